import Hummingbird
import OmnistockCore

/// Path, query and header values every resource reads the same way: a malformed one is a 400
/// naming the parameter, before any work is done.
extension Request {
    /// A path parameter that must be a valid identifier (400 otherwise).
    func identifier(_ name: String, context: OmsContext) throws -> String {
        let value = context.parameters.get(name) ?? ""
        if let fault = Identifier.check(value, field: name) { throw Problem(fault, inBody: false) }
        return value
    }

    /// An optional integer query parameter within bounds (400 otherwise).
    func integer(_ name: String, in range: ClosedRange<Int64>, default value: Int64) throws -> Int64 {
        let all = uri.queryParameters.getAll(name)
        guard let text = all.last else { return value }
        guard all.count == 1, let parsed = Int64(text), range.contains(parsed) else {
            throw Problem(.outOfRange(field: name, lower: "\(range.lowerBound)", upper: "\(range.upperBound)"), inBody: false)
        }
        return parsed
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
}
