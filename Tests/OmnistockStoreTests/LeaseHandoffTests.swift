import Foundation
import Testing

@testable import OmnistockStore

/// A body that waits for ever on a lost connection (PostgresNIO's lost write) must not keep its
/// caller waiting: the lost-lease watch abandons it and the caller is answered 503.
@Suite struct LeaseHandoffTests {
    @Test func anAbandonedBodyAnswersItsCallerConnectionLostAtOnce() async throws {
        let handoff = LeaseHandoff()
        let started = ContinuousClock.now
        let caller = Task {
            try await handoff.run { () async throws -> Int in
                // Stands for a query whose write was lost: it would wait an hour.
                try? await Task.sleep(for: .seconds(3_600))
                return 1
            }
        }
        try await Task.sleep(for: .milliseconds(100))
        #expect(handoff.abandon(), "the first abandon releases the lease")
        #expect(!handoff.abandon() && !handoff.release(), "a lease is released once")
        await #expect(throws: DatabaseUnavailable.self) { try await caller.value }
        #expect(ContinuousClock.now - started < .seconds(10))
    }

    @Test func aBodyThatReturnsAnswersAsItself() async throws {
        let handoff = LeaseHandoff()
        #expect(try await handoff.run { 42 } == 42)
        await #expect(throws: CancellationError.self) { try await handoff.run { () async throws -> Int in throw CancellationError() } }
    }

    @Test func theCallersCancellationReachesTheBody() async throws {
        let handoff = LeaseHandoff()
        let caller = Task {
            try await handoff.run { () async throws -> Bool in
                try await Task.sleep(for: .seconds(3_600))
                return false
            }
        }
        try await Task.sleep(for: .milliseconds(100))
        caller.cancel()
        await #expect(throws: CancellationError.self) { try await caller.value }
    }
}
