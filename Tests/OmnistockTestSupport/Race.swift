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
