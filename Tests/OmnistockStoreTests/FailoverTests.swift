import Foundation
import OmnistockCore
@testable import OmnistockStore
import OmnistockTestSupport
import PostgresNIO
import Synchronization
import Testing

/// What an instance does around a change of primary (the whole failover runs in
/// `make ha-test`, on a Patroni cluster): the watch that counts failovers, the probe `/ready`
/// uses, a standby's refusal turned into a 503 and a new connection, and a batch whose COMMIT
/// was cut off never run again request by request.
@Suite struct FailoverTests {
    static let memberA = ServerIdentity(address: "10.0.0.1", port: 5432, startedMs: 1_000, timeline: 1)
    static let memberB = ServerIdentity(address: "10.0.0.2", port: 5432, startedMs: 2_000, timeline: 2)

    @Test func givenAPrimaryWhenAnotherAnswersAfterAnOutageThenOneFailoverIsCounted() {
        let watch = DatabaseWatch()
        #expect(watch.observe(.primary(Self.memberA)) == nil)
        #expect(watch.observe(.unreachable) == nil)
        #expect(watch.observe(.standby) == nil)
        #expect(watch.observe(.primary(Self.memberB)) == .failover(from: Self.memberA, to: Self.memberB))
        #expect(watch.observe(.primary(Self.memberB)) == nil)
        #expect(watch.counts == DatabaseWatch.Counts(failovers: 1, restarts: 0, standbys: 1))
        #expect(watch.lastPrimary == Self.memberB)
    }

    @Test func givenAPrimaryWhenItStartsAgainInPlaceThenARestartNotAFailover() {
        let watch = DatabaseWatch()
        watch.observe(.primary(Self.memberA))
        var restarted = Self.memberA
        restarted.startedMs = 5_000
        #expect(watch.observe(.primary(restarted)) == .restart(restarted))
        // The same address promoted onto a new timeline (a virtual IP that moved): a failover.
        var promoted = restarted
        promoted.timeline = 3
        #expect(watch.observe(.primary(promoted)) == .failover(from: restarted, to: promoted))
        #expect(watch.counts == DatabaseWatch.Counts(failovers: 1, restarts: 1, standbys: 0))
    }

    @Test func theProbeOfTheTestServerFindsAPrimaryOnItsPortAndTimeline() async throws {
        try await withFreshDatabase { database in
            let probe = await database.probe()
            guard case .primary(let identity) = probe else {
                Issue.record("the probe found \(probe)")
                return
            }
            #expect(identity.port == database.settings.port)
            #expect(identity.timeline >= 1 && identity.startedMs > 0)
            #expect(database.watch.lastPrimary == identity)
            #expect(database.watch.counts.failovers == 0)
        }
    }

    @Test func aWriteRefusedAsOnAStandbyIsUnavailableAndItsConnectionIsLeftForANewOne() async throws {
        try await withFreshDatabase { database in
            let refused = Mutex<PostgresConnection?>(nil)
            // A read-only transaction refuses writes with the SQLSTATE a standby gives (25006).
            await #expect {
                try await database.withConnection { connection in
                    refused.withLock { $0 = connection }
                    try await connection.query("BEGIN READ ONLY", logger: testLogger)
                    try await connection.query("CREATE TABLE refused_here (x int)", logger: testLogger)
                }
            } throws: { error in
                (error as? DatabaseUnavailable)?.reason == .standby && isDatabaseUnavailable(error)
            }
            #expect(refused.withLock { $0?.isClosed } == true)
            #expect(database.reconnects == 0)
            // The next lease gets a connection opened after the refusal: one reconnect.
            let answered = try await database.withConnection { connection in
                try await connection.query("SELECT 1", logger: testLogger).collect().count
            }
            #expect(answered == 1)
            #expect(database.reconnects == 1)
        }
    }

    @Test func aBatchWhoseCommitWasCutOffIsNotRunAgainRequestByRequest() async throws {
        try await withFreshDatabase { database in
            let queue = WriterQueue<Request>(depthMax: 10, batchMax: 10, lanesMax: 1) { [$0.name] }
            let runs = Mutex<[[String]]>([])
            let answers = try await withThrowingTaskGroup(of: String.self) { group in
                for name in ["a", "b"] {
                    group.addTask {
                        do {
                            return try await withCheckedThrowingContinuation { continuation in
                                _ = queue.enqueue(Request(name: name, continuation: continuation))
                            }
                        } catch let error as DatabaseUnavailable {
                            return "\(error.reason)"
                        }
                    }
                }
                // Both are queued before the lane starts, so they share its first batch.
                while queue.count < 2 { try await Task.sleep(for: .milliseconds(5)) }
                await queue.drain("test", database: database, logger: testLogger, retryable: { _ in false }) { batch, _ in
                    runs.withLock { $0.append(batch.map(\.name)) }
                    throw DatabaseUnavailable(.commitOutcomeUnknown)
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(runs.withLock { $0 } == [["a", "b"]])
            #expect(answers == ["commitOutcomeUnknown", "commitOutcomeUnknown"])
        }
    }

    struct Request: BatchedRequest {
        let name: String
        let continuation: CheckedContinuation<String, any Error>
        var reach: LedgerReach? { nil }
    }
}
