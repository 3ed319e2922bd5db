import Foundation
import NIOCore

/// One Server-Sent Event: `id: …`, `event: …`, `data: …`, then a blank line.
///
/// `data` is one line of JSON (the edge's encoder never writes a raw line break), so the event
/// needs one `data:` field; a line break in it would end the field early, and is refused.
public struct SSEMessage: Sendable, Equatable {
    public var id: String?
    public var event: String?
    public var data: [UInt8]
    /// When the ledger recorded what this message says, for the send-lag figure; nil for none.
    public var recordedAt: Date?

    public init(id: String? = nil, event: String? = nil, data: [UInt8], recordedAt: Date? = nil) {
        precondition(!data.contains(0x0A) && !data.contains(0x0D), "an SSE data field is one line")
        precondition(!(id ?? "").contains(where: \.isNewline) && !(event ?? "").contains(where: \.isNewline), "SSE fields are one line")
        self.id = id
        self.event = event
        self.data = data
        self.recordedAt = recordedAt
    }
}

/// The wire form of the event stream (the WHATWG HTML standard, "Server-sent events").
public enum ServerSentEvents {
    /// The message's fields, then the blank line that dispatches it.
    public static func frame(_ message: SSEMessage) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(message.data.count + 64)
        write(message, to: &buffer)
        return buffer
    }

    /// The messages one after the other, in one buffer.
    public static func frame(_ messages: [SSEMessage]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(messages.reduce(0) { $0 + $1.data.count + 64 })
        for message in messages { write(message, to: &buffer) }
        return buffer
    }

    private static func write(_ message: SSEMessage, to buffer: inout ByteBuffer) {
        if let id = message.id { buffer.writeString("id: \(id)\n") }
        if let event = message.event { buffer.writeString("event: \(event)\n") }
        buffer.writeString("data: ")
        buffer.writeBytes(message.data)
        buffer.writeString("\n\n")
    }

    /// A comment: clients ignore it, proxies see traffic. Each line of `text` is its own comment line.
    public static func comment(_ text: String) -> ByteBuffer {
        var buffer = ByteBuffer()
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            buffer.writeString(line.isEmpty ? ":\n" : ": \(line)\n")
        }
        buffer.writeString("\n")
        return buffer
    }

    /// The reconnection delay an EventSource should wait after the stream ends.
    public static func retry(milliseconds: Int) -> ByteBuffer {
        ByteBuffer(string: "retry: \(milliseconds)\n\n")
    }
}
