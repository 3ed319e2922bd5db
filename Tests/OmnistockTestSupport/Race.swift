import Synchronization

/// The first of two outcomes (an operation's result, or its time cap), handed to one waiter:
/// the outage tests race a call that may hang for ever against a timer.
public final class Race<R: Sendable>: Sendable {
    private let state = Mutex<(outcome: Result<R, any Error>?, waiter: CheckedContinuation<R, any Error>?)>((nil, nil))

    public init() {}

    public func finish(_ outcome: Result<R, any Error>) {
        state.withLock { state in
            guard state.outcome == nil else { return }
            state.outcome = outcome
            state.waiter?.resume(with: outcome)
            state.waiter = nil
        }
    }

    public func value() async throws -> R {
        try await withCheckedThrowingContinuation { continuation in
            state.withLock { state in
                if let outcome = state.outcome { continuation.resume(with: outcome) } else { state.waiter = continuation }
            }
        }
    }
}

/// A wait that did not end within its bound.
public struct WaitTooLong: Error, CustomStringConvertible {
    public let what: String
    public let seconds: Double
    public var description: String { "\(what): no end within \(seconds) s" }
}

/// The result of `operation`, or `WaitTooLong` after `seconds`; the operation is then cancelled
/// and left behind, never awaited, so that a wait that would never end fails its test instead
/// of holding the whole run (one such wait held a CI run until its 90-minute limit).
public func within<R: Sendable>(
    _ seconds: Double, _ what: String, _ operation: @escaping @Sendable () async throws -> R
) async throws -> R {
    let race = Race<R>()
    let work = Task {
        race.finish(await Result(catching: operation))
    }
    let timer = Task {
        try await Task.sleep(for: .seconds(seconds))
        race.finish(.failure(WaitTooLong(what: what, seconds: seconds)))
        work.cancel()
    }
    defer { timer.cancel() }
    return try await race.value()
}

extension Result where Failure == any Error {
    /// The outcome of an async throwing body.
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}
