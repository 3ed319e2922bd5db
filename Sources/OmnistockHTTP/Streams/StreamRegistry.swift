import Foundation
import HTTPTypes
import OmnistockCore
import Synchronization

/// The kinds of stream an instance serves, as `/metrics` labels them.
public enum StreamKind: String, Sendable, CaseIterable {
    case events
    case availability
    /// A customer's tracking page (`/v1/track/{token}/stream`), counted per order.
    case tracking
}

/// The bounds of an instance's streams; set by `oms` from its settings.
public struct StreamLimits: Sendable, Equatable {
    /// Streams open at once on the instance.
    public var perInstance: Int
    /// Streams open at once for one API key.
    public var perKey: Int
    /// Messages waiting for one stream's client before it is cut off as too slow.
    public var queueMessages: Int

    public init(
        perInstance: Int = Limits.streamsPerInstanceDefault, perKey: Int = Limits.streamsPerKeyDefault,
        queueMessages: Int = Limits.streamQueueMessagesDefault
    ) {
        precondition(perInstance > 0 && perKey > 0 && queueMessages > 0, "stream limits are positive")
        self.perInstance = perInstance
        self.perKey = perKey
        self.queueMessages = queueMessages
    }
}

/// The open streams of one instance, counted in all and per API key; past either bound a new
/// stream is refused with 429 (every stream holds a connection and a tail subscription).
public final class StreamRegistry: Sendable {
    public let limits: StreamLimits
    let metrics: StreamMetrics?
    private let state = Mutex(State())

    struct State {
        var open = 0
        var perKey: [String: Int] = [:]
        var nextId = 0
    }

    public init(limits: StreamLimits = StreamLimits(), metrics: StreamMetrics? = nil) {
        self.limits = limits
        self.metrics = metrics
    }

    /// Takes a place for a new stream of `keyId`, or throws the 429 problem.
    public func open(kind: StreamKind, keyId: String) throws(Problem) -> StreamTicket {
        let id = try state.withLock { state throws(Problem) -> Int in
            guard state.open < limits.perInstance else { throw Problem.tooManyStreams(perInstance: limits.perInstance) }
            let ofKey = state.perKey[keyId, default: 0]
            guard ofKey < limits.perKey else { throw Problem.tooManyStreams(perKey: limits.perKey) }
            state.open += 1
            state.perKey[keyId] = ofKey + 1
            state.nextId += 1
            return state.nextId
        }
        metrics?.opened(kind)
        return StreamTicket(id: id, kind: kind, keyId: keyId, registry: self)
    }

    /// Streams open now, in all and for one key.
    public var openCount: Int { state.withLock { $0.open } }
    public func openCount(keyId: String) -> Int { state.withLock { $0.perKey[keyId, default: 0] } }

    fileprivate func release(kind: StreamKind, keyId: String) {
        state.withLock { state in
            state.open -= 1
            let left = state.perKey[keyId, default: 1] - 1
            state.perKey[keyId] = left > 0 ? left : nil
            precondition(state.open >= 0, "a stream was released twice")
        }
        metrics?.closed(kind)
    }
}

/// One open stream's place in the registry; released once, by the stream's writer, however
/// the stream ends (and by deinit, should a ticket be dropped before its stream starts).
public final class StreamTicket: Sendable {
    public let id: Int
    public let kind: StreamKind
    public let keyId: String
    private let registry: StreamRegistry
    private let released = Atomic<Bool>(false)

    fileprivate init(id: Int, kind: StreamKind, keyId: String, registry: StreamRegistry) {
        self.id = id
        self.kind = kind
        self.keyId = keyId
        self.registry = registry
    }

    /// Gives the place back; later calls do nothing.
    public func release() {
        guard released.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        registry.release(kind: kind, keyId: keyId)
    }

    var metrics: StreamMetrics? { registry.metrics }

    deinit { release() }
}

extension Problem {
    /// 429: the instance serves as many streams as it may.
    static func tooManyStreams(perInstance: Int) -> Problem {
        tooManyStreams("This instance already serves \(perInstance) streams, its limit; retry after the Retry-After delay, or on another instance.")
    }

    /// 429: the caller's key holds as many streams open as it may.
    static func tooManyStreams(perKey: Int) -> Problem {
        tooManyStreams("This API key already holds \(perKey) streams open on this instance, its limit; close one, or retry after the Retry-After delay.")
    }

    private static func tooManyStreams(_ detail: String) -> Problem {
        var problem = Problem(status: .tooManyRequests, kind: "too-many-streams", title: "Too many open streams", detail: detail)
        problem.headers[.retryAfter] = "\(Limits.streamRetryAfterSeconds)"
        return problem
    }
}
