import Foundation
import Synchronization

/// Why a stream ended, as `/metrics` counts it.
public enum StreamDisconnect: String, Sendable, CaseIterable {
    /// The client went away (a write failed) or its producer finished.
    case client
    /// The client read too slowly: its queue filled up, or one write did not complete in time.
    case slow
    /// The instance is shutting down.
    case shutdown
    /// The ledger tail ended the stream's subscription (it fell behind, or the tail stopped).
    case tail
    /// The producer failed (the database is away, say); the client reconnects and resumes.
    case error
}

/// The bounded mailbox of one open stream: a producer sends messages, the stream's writer
/// takes them in order and writes them to the client.
///
/// When `queueMax` messages are already waiting the client is too slow (at once for `send`;
/// for `send(_:waitingUpTo:)`, once the queue has stayed full for the grace), and the stream is ended with a final comment
/// saying so, rather than let memory grow; the client resumes from its Last-Event-ID and loses
/// nothing. A producer that reads at its own pace (a catch-up from the ledger) waits for room
/// first with `waitForRoom`.
public final class StreamSink: Sendable {
    /// What the writer takes, in order.
    enum Item: Sendable, Equatable {
        case message(SSEMessage)
        /// Messages queued together (a page of the ledger tail), written in one chunk: one
        /// write to the socket instead of one per message.
        case messages([SSEMessage])
        /// A comment to keep an idle connection open through proxies.
        case heartbeat
        /// The last item: a final comment, then the stream closes.
        case end(String)
    }

    public static let slowReason = "disconnected: the client read too slowly; reconnect with Last-Event-ID"
    public static let shutdownReason = "disconnected: the instance is shutting down; reconnect with Last-Event-ID"

    /// The messages one stream may have waiting.
    public let queueMax: Int
    let stream: AsyncStream<Item>
    private let continuation: AsyncStream<Item>.Continuation
    private let state = Mutex(State())

    struct State {
        var pending = 0
        /// Why the stream ended, once it has.
        var ended: StreamDisconnect?
        /// The producer waiting for room, and how much it waits for.
        var waiter: (room: Int, continuation: CheckedContinuation<Void, Never>)?
        /// When the writer last finished a write, and since when it is in one (nil: it is not).
        var wroteAt = ContinuousClock.now
        var writingSince: ContinuousClock.Instant?
        var heartbeatQueued = false
        /// Since when the queue is full without having drained to half since.
        var fullSince: ContinuousClock.Instant?
    }

    public init(queueMax: Int) {
        precondition(queueMax > 0, "a stream has room for one message")
        self.queueMax = queueMax
        // The queue is bounded by `pending`; the stream itself never drops.
        (stream, continuation) = AsyncStream.makeStream(of: Item.self, bufferingPolicy: .unbounded)
    }

    /// Queues a message; false when the stream has ended or the client is too slow (the
    /// stream is then ended with `slowReason`). A producer stops at the first false.
    @discardableResult
    public func send(_ message: SSEMessage) -> Bool {
        let queued = state.withLock { state -> Bool? in
            guard state.ended == nil else { return false }
            guard state.pending < queueMax else { return nil }
            enqueue(message, &state)
            return true
        }
        guard let queued else {
            end(Self.slowReason, cause: .slow)
            return false
        }
        return queued
    }

    /// Ends the stream: the writer writes what is queued, then `reason` as a final comment,
    /// then closes. Only the first end counts.
    public func end(_ reason: String, cause: StreamDisconnect = .tail) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard state.ended == nil else { return nil }
            state.ended = cause
            continuation.yield(.end(reason))
            continuation.finish()
            defer { state.waiter = nil }
            return state.waiter?.continuation
        }
        waiter?.resume()
    }

    /// Closes the stream after what is queued, without a final comment (the producer is done).
    func finish() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard state.ended == nil else { return nil }
            state.ended = .client
            continuation.finish()
            defer { state.waiter = nil }
            return state.waiter?.continuation
        }
        waiter?.resume()
    }

    public var isEnded: Bool { state.withLock { $0.ended != nil } }

    /// Why the stream ended, or nil while it runs.
    public var disconnect: StreamDisconnect? { state.withLock { $0.ended } }

    /// Messages queued and not yet taken by the writer.
    public var pending: Int { state.withLock { $0.pending } }

    /// Waits until `room` more messages fit (at most `queueMax`), the stream has ended, or the
    /// task is cancelled. One producer waits at a time.
    public func waitForRoom(_ room: Int) async {
        let room = min(max(room, 1), queueMax)
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                // Cancellation is checked under the lock, so a cancel that comes before the
                // waiter is stored is seen here, and one that comes after finds it stored.
                let now = state.withLock { state -> Bool in
                    if state.ended != nil || Task.isCancelled || queueMax - state.pending >= room { return true }
                    precondition(state.waiter == nil, "one producer waits for room at a time")
                    state.waiter = (room, continuation)
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                defer { state.waiter = nil }
                return state.waiter?.continuation
            }
            waiter?.resume()
        }
    }

    /// Queues a message; when the queue is full, waits for room as long as the queue has not
    /// stayed full (never drained to half) for `grace`. A burst (a large import commits
    /// thousands of events at once) fills the queue for a moment; a client that reads slower
    /// than events come keeps it full, and is cut off with `slowReason`. False when the stream
    /// has ended, or is ended now.
    public func send(_ message: SSEMessage, waitingUpTo grace: Duration) async -> Bool {
        await send([message], waitingUpTo: grace)
    }

    /// Queues messages together, as `send(_:waitingUpTo:)` queues one: they wait for room for
    /// all of them, and are written in one chunk. At most `queueMax` at a time.
    public func send(_ messages: [SSEMessage], waitingUpTo grace: Duration) async -> Bool {
        precondition(messages.count <= queueMax, "a batch fits in the queue")
        guard !messages.isEmpty else { return !isEnded }
        enum Verdict { case queued, ended, slow, wait(Duration) }
        while true {
            let verdict = state.withLock { state -> Verdict in
                guard state.ended == nil else { return .ended }
                if state.pending + messages.count <= queueMax {
                    enqueue(messages, &state)
                    return .queued
                }
                // Too full for these: from now the queue counts as full (a batch can find it
                // so below `queueMax`), until it drains to half.
                if state.fullSince == nil { state.fullSince = .now }
                let left = grace - (ContinuousClock.now - state.fullSince!)
                return left <= .zero ? .slow : .wait(left)
            }
            switch verdict {
            case .queued:
                return true
            case .ended:
                return false
            case .slow:
                end(Self.slowReason, cause: .slow)
                return false
            case .wait(let left):
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { await self.waitForRoom(messages.count) }
                    group.addTask { try? await Task.sleep(for: left) }
                    await group.next()
                    group.cancelAll()
                }
                if Task.isCancelled { return false }
            }
        }
    }

    private func enqueue(_ message: SSEMessage, _ state: inout State) {
        state.pending += 1
        if state.pending >= queueMax, state.fullSince == nil { state.fullSince = .now }
        continuation.yield(.message(message))
    }

    private func enqueue(_ messages: [SSEMessage], _ state: inout State) {
        guard messages.count > 1 else { return enqueue(messages[0], &state) }
        state.pending += messages.count
        // Full enough that one more batch like this would not fit: the queue counts as full.
        if state.pending + messages.count > queueMax, state.fullSince == nil { state.fullSince = .now }
        continuation.yield(.messages(messages))
    }

    /// Queues a heartbeat when nothing was written for `idle` and none is queued already.
    func beat(idle: Duration) {
        state.withLock { state in
            guard state.ended == nil, !state.heartbeatQueued, state.writingSince == nil, state.pending == 0,
                ContinuousClock.now - state.wroteAt >= idle
            else { return }
            state.heartbeatQueued = true
            continuation.yield(.heartbeat)
        }
    }

    /// The writer's clock: a write begins, a write ended.
    func writing() {
        state.withLock { state in
            state.writingSince = .now
            state.heartbeatQueued = false
        }
    }

    func wrote() {
        state.withLock { state in
            state.writingSince = nil
            state.wroteAt = .now
        }
    }

    /// Whether the write under way began more than `bound` ago (the client stopped reading).
    func writeStuck(longerThan bound: Duration) -> Bool {
        state.withLock { state in state.writingSince.map { ContinuousClock.now - $0 > bound } ?? false }
    }

    /// The writer took messages: wakes a producer waiting for room when there is enough.
    func taken(_ count: Int = 1) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.pending -= count
            if state.pending <= queueMax / 2 { state.fullSince = nil }
            guard let waiter = state.waiter, queueMax - state.pending >= waiter.room else { return nil }
            state.waiter = nil
            return waiter.continuation
        }
        waiter?.resume()
    }
}
