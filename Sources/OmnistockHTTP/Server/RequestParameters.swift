import Foundation
import Hummingbird
import OmnistockCore

/// Path, query and header values every resource reads the same way: a malformed one is a 400
/// naming the parameter, before any work is done.
extension Request {
    /// A path parameter that must be a valid identifier (400 otherwise).
    ///
    /// The router hands segments over as they came, percent-encoded: they are decoded here,
    /// once, so `A%3AB` is `A:B` and `PAR%2D01` is `PAR-01` as a client's URL library may
    /// write them; invalid percent-encoding (`%ZZ`) and text that decodes to no identifier
    /// (`A%2FB`, `A%253AB`) are 400.
    func identifier(_ name: String, context: OmsContext) throws -> String {
        let raw = context.parameters.get(name) ?? ""
        // Without a `%` the text is its own decoding; Foundation's decoder was 0.3 % of the
        // machine's CPU under the journeys bench (perf), for ids that are almost never encoded.
        let decoded = raw.utf8.contains(UInt8(ascii: "%")) ? raw.removingPercentEncoding : raw
        guard let value = decoded, Identifier.isValid(value) else {
            throw Problem(.invalidIdentifier(field: name), inBody: false)
        }
        return value
    }

    /// An optional integer query parameter within bounds (400 otherwise). As in a JSON body,
    /// an integer may be written with a zero fraction or an exponent (`100.0`, `1e2`).
    func integer(_ name: String, in range: ClosedRange<Int64>, default value: Int64) throws -> Int64 {
        let all = uri.queryParameters.getAll(name)
        guard let text = all.last else { return value }
        guard all.count == 1, let parsed = Self.integral(String(text)), range.contains(parsed) else {
            throw Problem(.outOfRange(field: name, lower: "\(range.lowerBound)", upper: "\(range.upperBound)"), inBody: false)
        }
        return parsed
    }

    /// The values of a repeatable query parameter naming cases of a closed set (`status=…`),
    /// each once, in the order given; empty when none is given, 400 for an unknown one.
    func cases<Value: RawRepresentable & CaseIterable>(_ name: String) throws -> [Value] where Value.RawValue == String {
        var values: [Value] = []
        for text in uri.queryParameters.getAll(name) {
            guard let value = Value(rawValue: String(text)) else {
                throw Problem(
                    .outOfRange(field: name, lower: "one of", upper: Value.allCases.map(\.rawValue).joined(separator: ", ")),
                    inBody: false)
            }
            if !values.contains(where: { $0.rawValue == value.rawValue }) { values.append(value) }
        }
        return values
    }

    /// The page size of a listing.
    func pageSize() throws -> Int {
        Int(try integer("limit", in: 1...Int64(Limits.pageSizeMax), default: Int64(Limits.pageSizeDefault)))
    }

    /// The Idempotency-Key header, validated, or nil when absent.
    func idempotencyKey() throws -> String? {
        guard let key = headers[.idempotencyKey] else { return nil }
        let printable = key.unicodeScalars.allSatisfy { $0.value >= 0x21 && $0.value <= 0x7E }
        guard !key.isEmpty, key.utf8.count <= Limits.idempotencyKeyLengthMax, printable else {
            throw Problem.badRequest(
                "The Idempotency-Key header must be 1 to \(Limits.idempotencyKeyLengthMax) printable ASCII characters.",
                field: "Idempotency-Key", code: "invalid-idempotency-key")
        }
        return key
    }

    /// The integer a JSON number's text denotes exactly (`9330`, `9330.0`, `9.33e3`), or nil
    /// for a fraction, a number past Int64, or text that is not a JSON number.
    static func integral(_ text: String) -> Int64? {
        if let plain = Int64(text) { return plain }
        let pattern = /(-?)(0|[1-9][0-9]*)(?:\.([0-9]+))?(?:[eE]([+-]?[0-9]+))?/
        guard let match = text.wholeMatch(of: pattern) else { return nil }
        var digits = Substring(match.2 + (match.3 ?? ""))
        guard var exponent = Int(match.4 ?? "0") else { return nil }
        exponent -= match.3?.count ?? 0
        // Trailing zeros move into the exponent: 9330.0 is 9330e0, 9.33e3 is 933e1.
        while digits.count > 1, digits.last == "0" {
            digits = digits.dropLast()
            exponent += 1
        }
        guard var magnitude = Int64(digits) else { return nil }
        if magnitude == 0 { return 0 }
        guard exponent >= 0 else { return nil }
        for _ in 0..<exponent {
            let (product, overflow) = magnitude.multipliedReportingOverflow(by: 10)
            guard !overflow else { return nil }
            magnitude = product
        }
        return match.1.isEmpty ? magnitude : -magnitude
    }
}
