import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import OmnistockCore

/// JSON in and out of the edge: one encoder, responses, and the hash that identifies a request.
/// Bodies are read strictly (BodyDecoding.swift).
enum JSON {
    /// A time as every answer writes it (RFC 3339, UTC, milliseconds).
    static func dateText(_ date: Date) -> String {
        date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(dateText(date))
        }
        return encoder
    }()

    /// A JSON response with the given status.
    static func response<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        response(bytes: Array(try encoder.encode(value)), status: status)
    }

    static func response(bytes: [UInt8], status: HTTPResponse.Status) -> Response {
        response(buffer: ByteBuffer(bytes: bytes), status: status)
    }

    static func response(buffer: ByteBuffer, status: HTTPResponse.Status) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: buffer))
    }

    /// SHA-256 over parts, each prefixed with its length so that no two splits hash alike.
    static func sha256(_ parts: [Data]) -> [UInt8] {
        var hasher = SHA256()
        for part in parts {
            hasher.update(data: withUnsafeBytes(of: UInt64(part.count).bigEndian) { Data($0) })
            hasher.update(data: part)
        }
        return Array(hasher.finalize())
    }
}
