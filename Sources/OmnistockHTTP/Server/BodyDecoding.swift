import Foundation
import Hummingbird
import NIOCore
import OmnistockStore

/// Reading request bodies: strict decoding that names the field at fault, as a JSON pointer.
extension JSON {
    /// A decoded body. Its canonical form (sorted keys, no insignificant whitespace), whose hash
    /// identifies the request for idempotency, is made only when a request carries a key.
    struct Decoded<T: Encodable & Sendable>: Sendable {
        var value: T
        func canonical() throws -> Data {
            if let fast = value as? any FastBody, let bytes = fast.canonicalJSON() { return Data(bytes) }
            return try encoder.encode(value)
        }
    }

    /// Decodes with unknown keys refused (see StrictDecoder).
    private struct Strict<T: Decodable>: Decodable {
        let value: T
        init(from decoder: any Decoder) throws {
            value = try T(from: StrictDecoder(inner: decoder))
        }
    }

    /// Reads and decodes a JSON body strictly.
    ///
    /// 415 unless the body is declared JSON in UTF-8; 413 past the size limit; 400 for bytes
    /// that are not UTF-8 JSON text, a key twice in one object, malformed JSON, a value of the
    /// wrong type, a null the API does not document, a missing field, or a field the endpoint
    /// does not know (a typo must not be silently ignored: `"saftyStock": 2` would otherwise
    /// set nothing).
    static func decode<T: Codable>(_ type: T.Type, from request: Request, context: OmsContext) async throws -> Decoded<T> {
        try checkMediaType(request)
        var request = request
        let data = try await collect(&request, context: context)
        guard !data.isEmpty else { throw Problem.badRequest("The request has no body; send a JSON object.") }
        return Decoded(value: try decode(type, from: data))
    }

    /// The body of a route where it is optional (a cancel's reason): nil when there is none,
    /// else read as `decode` reads it.
    static func decodeIfPresent<T: Codable>(_ type: T.Type, from request: Request, context: OmsContext) async throws -> Decoded<T>? {
        var request = request
        let data = try await collect(&request, context: context)
        guard !data.isEmpty else { return nil }
        try checkMediaType(request)
        return Decoded(value: try decode(type, from: data))
    }

    /// The one rule for a route that takes no body: none, an empty one, or `{}` sent as JSON.
    /// Any other body is 415 when it is not declared JSON, else 400 as a body of the wrong
    /// shape (`unknown-field` naming each member, `malformed-json`, `wrong-type` for `[]`).
    /// The store steps once ignored their body, and `this is not json` cancelled a line.
    static func expectNoBody(_ request: inout Request, context: OmsContext) async throws {
        let data = try await collect(&request, context: context)
        guard !data.isEmpty else { return }
        guard isJSON(mediaType(request)) else { throw Problem.bodyNotTaken() }
        try checkMediaType(request)
        if NoFieldsRead.fastRead(data) != nil, JSONText.fault(in: data) == nil { return }
        _ = try decode(NoFields.self, from: data)
    }

    static func expectNoBody(_ request: Request, context: OmsContext) async throws {
        var request = request
        try await expectNoBody(&request, context: context)
    }

    /// The body's bytes, up to the size limit (413 past it).
    private static func collect(_ request: inout Request, context: OmsContext) async throws -> Data {
        do {
            return Data(buffer: try await request.collectBody(upTo: context.maxUploadSize))
        } catch is NIOTooManyBytesError {
            throw Problem.contentTooLarge()
        }
    }

    /// The media type of the body, lower-cased, without parameters.
    private static func mediaType(_ request: Request) -> String {
        let contentType = request.headers[.contentType]?.lowercased() ?? ""
        return contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
    }

    private static func isJSON(_ mediaType: String) -> Bool {
        mediaType == "application/json" || (mediaType.hasPrefix("application/") && mediaType.hasSuffix("+json"))
    }

    /// 415 unless the body is declared JSON, with no charset or UTF-8's.
    private static func checkMediaType(_ request: Request) throws {
        // What nearly every client sends, answered without taking the header apart (the
        // general path below was 1.4% of the machine under a hold load, perf).
        if request.headers[.contentType] == "application/json" { return }
        guard isJSON(mediaType(request)) else { throw Problem.unsupportedMediaType() }
        let parameters = (request.headers[.contentType] ?? "").split(separator: ";").dropFirst()
        for parameter in parameters {
            let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            guard pair.count == 2, pair[0] == "charset" else { continue }
            let charset = pair[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            guard charset == "utf-8" || charset == "utf8" else { throw Problem.unsupportedCharset(charset) }
        }
    }

    /// Decodes a body's bytes strictly, after the checks of its text (JSONText).
    static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        switch JSONText.fault(in: data) {
        case .encoding(let reason)?: throw Problem.invalidEncoding(reason)
        case .duplicateKey(let pointer)?: throw Problem.duplicateKey(pointer)
        case .tooDeep?: throw Problem.nestedTooDeeply()
        case nil: break
        }
        if let fast = T.self as? any FastBody.Type, let value = fast.fastRead(data) as? T { return value }
        let decoder = JSONDecoder()
        decoder.userInfo[.nullableFields] = (T.self as? any NullableFields.Type)?.nullableFields ?? Set<String>()
        do {
            return try decoder.decode(Strict<T>.self, from: data).value
        } catch let unknown as UnknownField {
            let field = pointer(unknown.path)
            throw Problem.badRequest("The field '\(field)' is not part of this request.", field: field, code: "unknown-field")
        } catch let null as NullField {
            let field = pointer(null.path)
            throw Problem.badRequest(
                "The field '\(field)' may not be null: leave it out for its default, or send \(null.expected).", field: field,
                code: "wrong-type")
        } catch let error as DecodingError {
            if case .dataCorrupted(let context) = error, context.codingPath.isEmpty,
                let field = unrepresentableNumber(in: data, as: T.self)
            {
                throw Problem.badRequest(
                    "The field '\(field)' holds a number it cannot take (a fraction where an integer is expected, or too large).",
                    field: field, code: "invalid-value")
            }
            throw problem(for: error)
        }
    }

    /// The body of a route that takes none: an object with no members.
    private struct NoFields: Decodable {
        private struct NoKeys: CodingKey {
            var stringValue: String { "" }
            var intValue: Int? { nil }
            init?(stringValue: String) { nil }
            init?(intValue: Int) { nil }
        }

        init(from decoder: any Decoder) throws {
            _ = try decoder.container(keyedBy: NoKeys.self)
        }
    }

    /// `{}` is read by hand: every store step without a body sends it (the strict decoder was
    /// 0.6 % of the machine's CPU under the journeys bench); anything else goes to the decoder.
    private struct NoFieldsRead: FastBody {
        static func read(_ reader: inout JSONReader) throws(JSONReader.Mismatch) -> NoFieldsRead {
            try reader.beginObject()
            var first = true
            guard try reader.nextKey(first: &first) == nil else { throw JSONReader.Mismatch() }
            return NoFieldsRead()
        }

        func canonicalJSON() -> [UInt8]? { nil }
    }

    /// Foundation reports a number that does not fit its field (2.5 for an integer, 1e30) as
    /// "not valid JSON" with no path. When the JSON is in fact valid, find the number at fault by
    /// zeroing each number in turn until the body decodes past it.
    static func unrepresentableNumber<T: Decodable>(in data: Data, as type: T.Type) -> String? {
        guard let root = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) else { return nil }
        var paths: [[Any]] = []
        func collect(_ value: Any, _ path: [Any]) {
            guard paths.count < 200 else { return }
            if let object = value as? [String: Any] {
                for key in object.keys.sorted() { collect(object[key]!, path + [key]) }
            } else if let array = value as? [Any] {
                for (index, element) in array.enumerated() { collect(element, path + [index]) }
            } else if let number = value as? NSNumber {
                // Only fractions and numbers past Int64 can be at fault (booleans are 0 or 1).
                let double = number.doubleValue
                if double != double.rounded() || abs(double) >= 9.2e18 { paths.append(path) }
            }
        }
        collect(root, [])
        func replacing(_ value: Any, at path: ArraySlice<Any>) -> Any {
            guard let head = path.first else { return 0 }
            if var object = value as? [String: Any], let key = head as? String {
                object[key] = replacing(object[key]!, at: path.dropFirst())
                return object
            }
            if var array = value as? [Any], let index = head as? Int {
                array[index] = replacing(array[index], at: path.dropFirst())
                return array
            }
            return value
        }
        for path in paths {
            guard let patched = try? JSONSerialization.data(withJSONObject: replacing(root, at: path[...]), options: [.fragmentsAllowed])
            else { continue }
            do {
                _ = try JSONDecoder().decode(T.self, from: patched)
                return pointer(path)
            } catch DecodingError.dataCorrupted(let context) where context.codingPath.isEmpty {
                continue
            } catch {
                return pointer(path)
            }
        }
        return nil
    }

    static func pointer(_ path: [Any]) -> String {
        path.map { "/\($0)" }.joined()
    }

    static func pointer(_ path: [any CodingKey]) -> String {
        path.isEmpty ? "/" : path.map { "/" + ($0.intValue.map(String.init) ?? $0.stringValue) }.joined()
    }

    static func problem(for error: DecodingError) -> Problem {
        switch error {
        case .dataCorrupted(let context) where context.codingPath.isEmpty:
            return Problem.badRequest("The body is not valid JSON.", code: "malformed-json")
        case .dataCorrupted(let context):
            let field = pointer(context.codingPath)
            return Problem.badRequest("The field '\(field)' has an invalid value: \(context.debugDescription)", field: field, code: "invalid-value")
        case .keyNotFound(let key, let context):
            let field = pointer(context.codingPath + [key])
            return Problem.badRequest("The field '\(field)' is required.", field: field, code: "missing-field")
        case .typeMismatch(let type, let context), .valueNotFound(let type, let context):
            let field = pointer(context.codingPath)
            return Problem.badRequest("The field '\(field)' must be \(describe(type)).", field: field, code: "wrong-type")
        @unknown default:
            return Problem.badRequest("The body could not be read.")
        }
    }

    static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Bool.Type: "a boolean"
        case is Int64.Type, is Int.Type: "an integer"
        case is Double.Type: "a number"
        case is [Any].Type: "an array"
        default: "an object of the documented shape"
        }
    }
}

/// A body with a hand-written reader for its usual shape. `JSON.decode` tries it first; any
/// other document (a null, an unknown field, a value of another type) goes to the decoder,
/// which reads or refuses it as for every body. Under a hold load the decoder and the encoder
/// of the canonical form were 4.7% of the whole machine (perf, 64 connections).
protocol FastBody {
    static func read(_ reader: inout JSONReader) throws(JSONReader.Mismatch) -> Self
    /// The canonical form exactly as `JSON.encoder` writes it, or nil to let the encoder write it.
    func canonicalJSON() -> [UInt8]?
}

extension FastBody {
    static func fastRead(_ data: Data) -> Self? {
        data.withUnsafeBytes { raw in JSONReader.read(raw.bindMemory(to: UInt8.self), read) }
    }
}
