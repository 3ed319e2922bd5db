import Foundation
import Hummingbird
import NIOCore

/// Reading request bodies: strict decoding that names the field at fault, as a JSON pointer.
extension JSON {
    /// A decoded body. Its canonical form (sorted keys, no insignificant whitespace), whose hash
    /// identifies the request for idempotency, is made only when a request carries a key.
    struct Decoded<T: Encodable> {
        var value: T
        func canonical() throws -> Data { try encoder.encode(value) }
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
    /// 415 unless the body is declared JSON; 413 past the size limit; 400 for malformed JSON,
    /// a value of the wrong type, a missing field, or a field the endpoint does not know (a typo
    /// must not be silently ignored: `"saftyStock": 2` would otherwise set nothing).
    static func decode<T: Codable>(_ type: T.Type, from request: Request, context: OmsContext) async throws -> Decoded<T> {
        let contentType = request.headers[.contentType]?.lowercased() ?? ""
        let mediaType = contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        guard mediaType == "application/json" || (mediaType.hasPrefix("application/") && mediaType.hasSuffix("+json")) else {
            throw Problem.unsupportedMediaType()
        }
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: context.maxUploadSize)
        } catch is NIOTooManyBytesError {
            throw Problem.contentTooLarge()
        }
        let data = Data(buffer: buffer)
        guard !data.isEmpty else { throw Problem.badRequest("The request has no body; send a JSON object.") }
        let value: T
        do {
            value = try JSONDecoder().decode(Strict<T>.self, from: data).value
        } catch let unknown as UnknownField {
            let field = pointer(unknown.path)
            throw Problem.badRequest("The field '\(field)' is not part of this request.", field: field, code: "unknown-field")
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
        return Decoded(value: value)
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
