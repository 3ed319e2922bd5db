import Foundation
import Hummingbird
import OmnistockCore

/// The rules every request meets before its handler runs, whatever its route:
///
/// * GET, HEAD and DELETE take no body: nothing, an empty body, or `{}` as JSON; anything else
///   is 415 (not JSON) or 400 (`unknown-field` for each member, `malformed-json`). A body the
///   route would ignore must not be mistaken for one it read.
/// * Every POST honours `Idempotency-Key`, so every POST refuses a malformed one, even a POST
///   that only reads (the sourcing plan), so that one key is valid or invalid everywhere.
///
/// POST routes that take no body call `JSON.expectNoBody` themselves (BodyDecoding.swift).
///
/// The rules are a route's, so a method no route takes at this path is let through to its
/// 405 (or 404) when it breaks one: a DELETE with a body on a path without DELETE is a wrong
/// method, not a wrong body. The route table is consulted only then, since matching a path
/// against every template on every request cost as much as answering `/health`.
struct InputRulesMiddleware: RouterMiddleware {
    typealias Context = OmsContext
    let routes: RouteTableBox

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        switch request.method {
        case .get, .head, .delete:
            var checked = request
            do {
                try await JSON.expectNoBody(&checked, context: context)
            } catch where !isRouted(request) {
                return try await next(checked, context)
            }
            return try await next(checked, context)
        case .post:
            do {
                _ = try request.idempotencyKey()
            } catch where !isRouted(request) {
                return try await next(request, context)
            }
            return try await next(request, context)
        default:
            return try await next(request, context)
        }
    }

    /// Whether a route takes this method at this path (HEAD is answered by the GET route).
    private func isRouted(_ request: Request) -> Bool {
        let method = request.method == .head ? "GET" : request.method.rawValue
        return routes.methods(forPath: request.uri.path).contains(method)
    }
}

/// Body fields whose OpenAPI schema allows `null` (`type: [integer, 'null']`), as JSON pointers,
/// and what null means there. Everywhere else an explicit null is refused with 400 naming the
/// field: leaving the field out is how a client asks for its default, and a null that silently
/// meant "absent" would hide a client's bug (`"lines": null`).
protocol NullableFields {
    static var nullableFields: Set<String> { get }
}

extension SafetyStockBody: NullableFields {
    /// Null returns the position to its location's default safety stock.
    static let nullableFields: Set<String> = ["/quantity"]
}

extension CodingUserInfoKey {
    /// The body's `NullableFields`, handed to the strict decoder.
    static let nullableFields = CodingUserInfoKey(rawValue: "omnistock.nullableFields")!
}

/// Problems of a body's form, which Problem.swift does not know.
extension Problem {
    /// A body where the route takes none, not sent as JSON.
    static func bodyNotTaken() -> Problem {
        Problem(
            status: .unsupportedMediaType, kind: "unsupported-media-type", title: "Unsupported media type",
            detail: "This route takes no body: send none, or {} as application/json.")
    }

    /// A JSON media type with a charset other than UTF-8 (RFC 8259 §8.1: JSON exchanged
    /// between systems is UTF-8).
    static func unsupportedCharset(_ charset: String) -> Problem {
        Problem(
            status: .unsupportedMediaType, kind: "unsupported-media-type", title: "Unsupported media type",
            detail: "The body is declared as charset '\(charset)'; send it as UTF-8 (application/json; charset=utf-8, or no charset).")
    }

    /// Bytes that are not UTF-8 JSON text, although declared as JSON.
    static func invalidEncoding(_ reason: String) -> Problem {
        badRequest("The body is not UTF-8 JSON text (RFC 8259): \(reason).", code: "invalid-encoding")
    }

    static func duplicateKey(_ pointer: String) -> Problem {
        badRequest(
            "The field '\(pointer)' appears more than once in its object; send each member once.", field: pointer,
            code: "duplicate-key")
    }

    static func nestedTooDeeply() -> Problem {
        badRequest(
            "The body nests objects and arrays more than \(Limits.requestBodyNestingDepthMax) deep.", code: "too-deep")
    }
}

/// A look at a JSON body's bytes before decoding, for what Foundation's decoder lets through:
/// text that is not UTF-8 (it detects and reads UTF-16 and UTF-32, and skips a byte order
/// mark), and duplicate object keys (it keeps the first, where most parsers and proxies keep
/// the last, so two readers of one body could disagree on what it says).
enum JSONText {
    enum Fault: Equatable {
        case encoding(String)
        case duplicateKey(pointer: String)
        case tooDeep
    }

    /// The first fault of `data`, or nil. Malformed JSON is left to the decoder, which names it.
    static func fault(in data: Data) -> Fault? {
        data.withUnsafeBytes { bytes in
            if let reason = encodingFault(bytes) { return .encoding(reason) }
            return duplicateKey(bytes)
        }
    }

    static func encodingFault(_ bytes: UnsafeRawBufferPointer) -> String? {
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { return "it starts with a byte order mark; send UTF-8 without one" }
        if bytes.starts(with: [0xFE, 0xFF]) || bytes.starts(with: [0xFF, 0xFE]) {
            return "it starts with a UTF-16 or UTF-32 byte order mark; send UTF-8"
        }
        // JSON text has no raw NUL (RFC 8259 escapes every control character in strings), and
        // UTF-16 or UTF-32 text of ASCII characters is full of them.
        if bytes.contains(0) { return "it holds a NUL byte (UTF-16 or UTF-32 text, or binary data); send UTF-8" }
        if String(validating: bytes, as: UTF8.self) == nil { return "it holds bytes that are not valid UTF-8" }
        return nil
    }

    /// Where an object or array of the body is, while the scan is inside it.
    private struct Frame {
        var isObject: Bool
        var keys: Set<String> = []
        /// The key of the member being read (objects) or the index of the element (arrays).
        var key = ""
        var index = 0
        var expectsKey = false
    }

    /// The pointer of the first key that appears twice in one object, at any depth. Keys are
    /// compared as Swift strings, as the decoder compares them (escapes resolved).
    static func duplicateKey(_ bytes: UnsafeRawBufferPointer) -> Fault? {
        var stack: [Frame] = []
        var index = 0
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                guard stack.count < Limits.requestBodyNestingDepthMax else { return .tooDeep }
                let isObject = bytes[index] == UInt8(ascii: "{")
                stack.append(Frame(isObject: isObject, expectsKey: isObject))
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                guard stack.popLast() != nil else { return nil }
            case UInt8(ascii: ","):
                if let top = stack.indices.last {
                    if stack[top].isObject { stack[top].expectsKey = true } else { stack[top].index += 1 }
                }
            case UInt8(ascii: "\""):
                guard let end = stringEnd(bytes, openingAt: index) else { return nil }
                if let top = stack.indices.last, stack[top].isObject, stack[top].expectsKey {
                    guard let key = unescaped(bytes, (index + 1)..<end) else { return nil }
                    stack[top].expectsKey = false
                    stack[top].key = key
                    if !stack[top].keys.insert(key).inserted { return .duplicateKey(pointer: pointer(stack)) }
                }
                index = end
            default:
                break
            }
            index += 1
        }
        return nil
    }

    /// The index of the quote that closes the string opening at `start`.
    private static func stringEnd(_ bytes: UnsafeRawBufferPointer, openingAt start: Int) -> Int? {
        var index = start + 1
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "\\"): index += 2
            case UInt8(ascii: "\""): return index
            default: index += 1
            }
        }
        return nil
    }

    /// A string's content with its escapes resolved; nil for an escape JSON does not have.
    private static func unescaped(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> String? {
        let raw = UnsafeRawBufferPointer(rebasing: bytes[range])
        guard raw.contains(UInt8(ascii: "\\")) else { return String(decoding: raw, as: UTF8.self) }
        var text: [UInt8] = []
        text.reserveCapacity(raw.count)
        var index = 0
        while index < raw.count {
            guard raw[index] == UInt8(ascii: "\\") else {
                text.append(raw[index])
                index += 1
                continue
            }
            guard index + 1 < raw.count else { return nil }
            let escape = raw[index + 1]
            index += 2
            switch escape {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): text.append(escape)
            case UInt8(ascii: "b"): text.append(0x08)
            case UInt8(ascii: "f"): text.append(0x0C)
            case UInt8(ascii: "n"): text.append(0x0A)
            case UInt8(ascii: "r"): text.append(0x0D)
            case UInt8(ascii: "t"): text.append(0x09)
            case UInt8(ascii: "u"):
                guard let (scalar, length) = unicodeEscape(raw, at: index) else { return nil }
                text.append(contentsOf: scalar.utf8)
                index += length
            default:
                return nil
            }
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// The text of a `\u` escape whose four hex digits start at `start` (a surrogate pair takes
    /// a second escape), and how many bytes it took past the first `\u`. A lone surrogate is
    /// kept as its escape, so two different ones never compare equal.
    private static func unicodeEscape(_ raw: UnsafeRawBufferPointer, at start: Int) -> (String, Int)? {
        guard let high = hex4(raw, at: start) else { return nil }
        if (0xD800...0xDBFF).contains(high), start + 10 <= raw.count, raw[start + 4] == UInt8(ascii: "\\"),
            raw[start + 5] == UInt8(ascii: "u"), let low = hex4(raw, at: start + 6), (0xDC00...0xDFFF).contains(low),
            let scalar = Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
        {
            return (String(scalar), 10)
        }
        guard let scalar = Unicode.Scalar(high) else { return ("\\u" + String(high, radix: 16), 4) }
        return (String(scalar), 4)
    }

    private static func hex4(_ raw: UnsafeRawBufferPointer, at start: Int) -> UInt32? {
        guard start + 4 <= raw.count else { return nil }
        return UInt32(String(decoding: UnsafeRawBufferPointer(rebasing: raw[start..<(start + 4)]), as: UTF8.self), radix: 16)
    }

    /// The JSON pointer (RFC 6901) of the member or element the scan is at.
    private static func pointer(_ stack: [Frame]) -> String {
        stack.map { frame in
            frame.isObject
                ? "/" + frame.key.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
                : "/\(frame.index)"
        }.joined()
    }
}
