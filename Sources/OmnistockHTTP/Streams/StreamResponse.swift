import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import OmnistockCore
import ServiceLifecycle

/// How a stream's writer times itself; the defaults are the service's, a test shortens them.
public struct StreamTiming: Sendable {
    /// A comment is written after this long without a write.
    public var heartbeat: Duration
    /// A write that takes longer closes the connection.
    public var writeTimeout: Duration

    public init(
        heartbeat: Duration = .seconds(Limits.streamHeartbeatSeconds), writeTimeout: Duration = .seconds(Limits.streamWriteTimeoutSeconds)
    ) {
        self.heartbeat = heartbeat
        self.writeTimeout = writeTimeout
    }
}

/// A `text/event-stream` response: the body writes the `retry:` hint, then every message the
/// producer sends, in order, a comment whenever the stream was idle for `timing.heartbeat`,
/// and the final comment of whatever ended it.
///
/// `produce` runs beside the writer. The stream ends when `produce` returns (after what it
/// sent is written), when the sink is ended (by the producer, or because the client is too
/// slow), when the instance shuts down (graceful shutdown ends every stream with a comment, so
/// `oms` stops promptly), or when the client goes away; a write that does not complete within
/// `timing.writeTimeout` (a client that stopped reading with a full TCP window) closes the
/// connection. The ticket is released however it ends.
///
/// Given the request's body as the server received it (`inbound`), the stream also ends as soon
/// as the client closes its side: without it, a client that left an idle stream was noticed
/// only by the next heartbeat's write (up to 18 s measured), holding its slot of the per-key
/// bound meanwhile, so a page reloaded a few times ran out of streams. The body must be the
/// server's own (Hummingbird's router test client has none: such tests pass nil).
public func streamResponse(
    registry: StreamRegistry, ticket: StreamTicket, logger: Logger, timing: StreamTiming = StreamTiming(),
    inbound: RequestBody? = nil, produce: @escaping @Sendable (StreamSink) async throws -> Void
) -> Response {
    let sink = StreamSink(queueMax: registry.limits.queueMessages)
    let body = ResponseBody { writer in
        defer { ticket.release() }
        let session = StreamSession(sink: sink, ticket: ticket, logger: logger, timing: timing)
        let unchecked = UncheckedWriter(writer)
        let outcome: StreamSession.Outcome
        if let inbound {
            outcome = try await inbound.consumeWithInboundCloseHandler { _ in
                await session.run(writer: unchecked, produce: produce)
            } onInboundClosed: {
                sink.end("", cause: .client)
            }
        } else {
            outcome = await session.run(writer: unchecked, produce: produce)
        }
        ticket.metrics?.ended(outcome.reason)
        logger.debug("stream ended", metadata: ["kind": "\(ticket.kind.rawValue)", "reason": "\(outcome.reason.rawValue)"])
        // A connection whose last write failed or timed out is closed, not reused mid-chunk.
        if outcome.closeConnection { throw StreamClosed() }
    }
    let headers: HTTPFields = [
        .contentType: "text/event-stream", .cacheControl: "no-cache", .xAccelBuffering: "no",
    ]
    return Response(status: .ok, headers: headers, body: body)
}

/// The body writer ends with it when the connection must be closed rather than reused.
struct StreamClosed: Error {}

/// The response's writer, moved into the writing task. Hummingbird hands the writer over
/// `inout` to the body, which does not return before that task ends, so it is used by one
/// task at a time.
struct UncheckedWriter: @unchecked Sendable {
    var writer: any ResponseBodyWriter
    init(_ writer: any ResponseBodyWriter) { self.writer = writer }
}

/// One stream's life: its producer, its writer, and a ticker for heartbeats and the write bound.
struct StreamSession: Sendable {
    let sink: StreamSink
    let ticket: StreamTicket
    let logger: Logger
    let timing: StreamTiming

    struct Outcome: Sendable {
        var reason: StreamDisconnect
        var closeConnection: Bool
    }

    /// What each task of the session reports when it ends.
    enum Part: Sendable {
        case producer
        case writer(Outcome)
        case writeTimedOut
        case ticker
    }

    func run(writer: UncheckedWriter, produce: @escaping @Sendable (StreamSink) async throws -> Void) async -> Outcome {
        await withTaskGroup(of: Part.self) { group in
            group.addTask { await self.produce(produce) }
            group.addTask { await self.write(writer) }
            group.addTask { await self.tick() }
            var outcome = Outcome(reason: .client, closeConnection: true)
            parts: while let part = await group.next() {
                switch part {
                case .producer, .ticker:
                    continue
                case .writer(let ended):
                    outcome = ended
                case .writeTimedOut:
                    sink.end(StreamSink.slowReason, cause: .slow)
                    outcome = Outcome(reason: .slow, closeConnection: true)
                }
                // The writer is done, or must stop: nothing else of this stream matters now.
                break parts
            }
            // Ending the sink (a no-op when it has ended) wakes a producer waiting for room.
            sink.end("", cause: outcome.reason)
            group.cancelAll()
            return outcome
        }
    }

    private func produce(_ produce: @Sendable (StreamSink) async throws -> Void) async -> Part {
        do {
            try await produce(sink)
            sink.finish()
        } catch is CancellationError {
            sink.finish()
        } catch {
            logger.warning("a stream's producer failed", metadata: ["kind": "\(ticket.kind.rawValue)", "error": "\(String(reflecting: error))"])
            sink.end("disconnected: the stream could not read the ledger; reconnect with Last-Event-ID", cause: .error)
        }
        return .producer
    }

    /// Writes the `retry:` hint, then each item of the sink until it ends.
    private func write(_ box: UncheckedWriter) async -> Part {
        var writer = box.writer
        let metrics = ticket.metrics
        do {
            try await timed(ServerSentEvents.retry(milliseconds: Limits.streamRetryMillisecondsHint), to: &writer)
            for await item in sink.stream {
                switch item {
                case .message(let message):
                    sink.taken()
                    try await timed(ServerSentEvents.frame(message), to: &writer)
                    metrics?.wrote(ticket.kind, recordedAt: message.recordedAt)
                case .messages(let messages):
                    sink.taken(messages.count)
                    try await timed(ServerSentEvents.frame(messages), to: &writer)
                    for message in messages { metrics?.wrote(ticket.kind, recordedAt: message.recordedAt) }
                case .heartbeat:
                    try await timed(ServerSentEvents.comment(""), to: &writer)
                case .end(let reason):
                    try await timed(ServerSentEvents.comment(reason), to: &writer)
                }
            }
            try await writer.finish(nil)
            return .writer(Outcome(reason: sink.disconnect ?? .client, closeConnection: false))
        } catch {
            // The client went away (or the write was cut off by the bound, which the ticker reported).
            sink.end("", cause: .client)
            return .writer(Outcome(reason: sink.disconnect ?? .client, closeConnection: true))
        }
    }

    private func timed(_ buffer: ByteBuffer, to writer: inout any ResponseBodyWriter) async throws {
        sink.writing()
        defer { sink.wrote() }
        try await writer.write(buffer)
    }

    /// Every fifth of the shorter bound: queues a heartbeat when idle, and reports a write stuck
    /// past its bound. Graceful shutdown ends the stream with a comment.
    private func tick() async -> Part {
        let period = min(timing.heartbeat, timing.writeTimeout) / 5
        return await withGracefulShutdownHandler {
            while !Task.isCancelled {
                do { try await Task.sleep(for: period) } catch { return .ticker }
                if sink.writeStuck(longerThan: timing.writeTimeout) { return .writeTimedOut }
                sink.beat(idle: timing.heartbeat)
            }
            return .ticker
        } onGracefulShutdown: {
            sink.end(StreamSink.shutdownReason, cause: .shutdown)
        }
    }
}

extension HTTPField.Name {
    static let xAccelBuffering = Self("X-Accel-Buffering")!
}
