import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import OmnistockCore
import OmnistockHTTP
@testable import OmnistockStore
import OmnistockTestSupport
@testable import OmnistockWorkers
import Synchronization
import Testing

/// A receiver on loopback that records every delivery and answers as told.
final class Receiver: Sendable {
    struct Delivery: Sendable {
        var id: String
        var timestamp: String
        var signature: String
        var body: [UInt8]
        var position: Int64
    }

    /// The statuses of the next answers, in order; 200 once they are used up.
    private let state = Mutex<(answers: [Int], received: [Delivery])>(([], []))
    let port: Int
    private let task: Task<Void, any Error>

    var received: [Delivery] { state.withLock { $0.received } }
    var url: String { "http://127.0.0.1:\(port)/hook" }

    func answer(_ statuses: [Int]) { state.withLock { $0.answers = statuses } }

    private init(port: Int, task: Task<Void, any Error>) {
        self.port = port
        self.task = task
    }

    /// The receiver's server says nothing but its failures to start (its shutdown by
    /// cancellation is logged as errors that are none).
    static let quiet: Logger = {
        var logger = Logger(label: "receiver")
        logger.logLevel = .critical
        return logger
    }()

    static func start() async throws -> Receiver {
        let box = Mutex<Receiver?>(nil)
        let router = Router()
        router.post("hook") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            let bytes = Array(body.readableBytesView)
            let object = try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]
            let position = ((object?["data"] as? [String: Any])?["position"] as? NSNumber)?.int64Value ?? -1
            let delivery = Delivery(
                id: request.headers[HTTPField.Name("webhook-id")!] ?? "", timestamp: request.headers[HTTPField.Name("webhook-timestamp")!] ?? "",
                signature: request.headers[HTTPField.Name("webhook-signature")!] ?? "", body: bytes, position: position)
            let status = box.withLock { $0 }?.record(delivery) ?? 200
            return Response(status: .init(code: status))
        }
        let (stream, continuation) = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) }, logger: quiet)
        let task = Task { try await app.runService() }
        var ports = stream.makeAsyncIterator()
        guard let port = await ports.next(), port > 0 else { throw CancellationError() }
        let receiver = Receiver(port: port, task: task)
        box.withLock { $0 = receiver }
        return receiver
    }

    private func record(_ delivery: Delivery) -> Int {
        state.withLock { state in
            state.received.append(delivery)
            return state.answers.isEmpty ? 200 : state.answers.removeFirst()
        }
    }

    func stop() async {
        task.cancel()
        _ = try? await task.value
    }
}

/// Webhook delivery end to end on one database: the edge's API and renderer, a dispatcher (or
/// two), the ledger tail, and a receiver on loopback that checks every signature.
@Suite(.serialized) struct WebhookDeliveryTests {
    /// A lease of 10 s: a request may take up to what the lease has left, and a loaded machine
    /// (CI) made the last of a 2 s lease too short for a receiver's answer (a 429 read as a
    /// timeout). The tests of leases themselves take the shortest.
    static let settings = WebhookSettings(allowPrivateTargets: true, schedule: RetrySchedule(delaysSeconds: [0, 0, 0, 0, 0]), leaseSeconds: 10)
    static let shortLease = WebhookSettings(
        allowPrivateTargets: true, schedule: RetrySchedule(delaysSeconds: [0, 0, 0, 0, 0]), leaseSeconds: Limits.webhookLeaseSecondsMin)

    /// Runs `body` with a receiver, the tail and one dispatcher running.
    static func run(
        settings: WebhookSettings = settings, _ body: @Sendable (Harness, Receiver, WebhookDispatcher) async throws -> Void
    ) async throws {
        try await Harness.run(privateWebhookTargets: true) { harness in
            let receiver = try await Receiver.start()
            let dispatcher = dispatcher(harness, settings)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await harness.services.tail.run() }
                group.addTask { try await dispatcher.run() }
                defer { group.cancelAll() }
                try await body(harness, receiver, dispatcher)
            }
            await receiver.stop()
        }
    }

    static func dispatcher(_ harness: Harness, _ settings: WebhookSettings) -> WebhookDispatcher {
        let services = harness.services
        return WebhookDispatcher(
            store: services.webhooks, events: services.events, database: services.database, tail: services.tail,
            render: WebhookPayload.renderer(services), observer: services.metrics.webhooks, settings: settings, logger: testLogger)
    }

    /// Creates a subscription to the receiver; its id and secret.
    static func subscribe(_ harness: Harness, _ receiver: Receiver, extra: String = "") async throws -> (id: String, secret: String) {
        let created = try await harness.call(.post, "/v1/webhooks", key: harness.keys.admin, body: #"{"url": "\#(receiver.url)"\#(extra)}"#)
        #expect(created.status == .created, "\(created.text)")
        return (created.json["id"] as? String ?? "", created.json["secret"] as? String ?? "")
    }

    /// Records `count` receipts, one event each, and returns the head after them.
    @discardableResult
    static func receive(_ harness: Harness, _ count: Int, location: String = "PAR-01") async throws -> Int64 {
        let lines = (0..<count).map { #"{"sku": "SKU-\#($0)", "locationId": "\#(location)", "kind": "receipt", "quantity": 1}"# }
        let reply = try await harness.call(.post, "/v1/stock/movements", key: harness.keys.admin, body: #"{"movements": [\#(lines.joined(separator: ","))]}"#)
        #expect(reply.status == .created, "\(reply.text)")
        return try await harness.services.events.head(on: harness.services.database)
    }

    /// Waits (at most 20 s) until `done` holds.
    static func eventually(_ what: String, _ done: @Sendable () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if try await done() { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("timed out waiting for \(what)")
    }

    /// Whether one of the `v1,` signatures of a delivery is the HMAC of its content under `secret`.
    static func signed(_ delivery: Receiver.Delivery, by secret: String) -> Bool {
        let key = SymmetricKey(data: Data(base64Encoded: String(secret.dropFirst("whsec_".count)))!)
        let message = Array("\(delivery.id).\(delivery.timestamp).".utf8) + delivery.body
        let expected = "v1," + Data(HMAC<SHA256>.authenticationCode(for: message, using: key)).base64EncodedString()
        return delivery.signature.split(separator: " ").contains { $0 == expected }
    }

    /// The positions first received, in order, and whether every repeat had the same webhook-id.
    static func firsts(_ received: [Receiver.Delivery]) -> [Int64] {
        var seen = Set<String>()
        return received.compactMap { seen.insert($0.id).inserted ? $0.position : nil }
    }

    @Test func theSignatureIsStandardWebhooks() {
        // The test vector of the Standard Webhooks specification.
        let header = WebhookSignature.header(
            id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1_614_265_330, body: Array(#"{"test": 2432232314}"#.utf8),
            secrets: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])
        #expect(header == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
    }

    @Test func everyEventArrivesInOrderThroughFailures() async throws {
        try await Self.run { harness, receiver, _ in
            let (id, secret) = try await Self.subscribe(harness, receiver)
            // Given a receiver that fails three times (500, 429, a redirect) before it takes one,
            receiver.answer([500, 429, 302])
            // when eight events are recorded in two requests,
            try await Self.receive(harness, 5)
            let head = try await Self.receive(harness, 3)
            // then each arrives, in position order, repeats only of the failed one with its id.
            try await Self.eventually("eight events") { Self.firsts(receiver.received).count == 8 }
            let received = receiver.received
            #expect(Self.firsts(received) == Array((head - 7)...head))
            #expect(received.count == 11)
            #expect(received.allSatisfy { Self.signed($0, by: secret) && $0.id == "evt_\($0.position)" })
            // The log has every attempt once the progress is written (within 200 ms).
            try await Self.eventually("the log of eleven attempts") {
                let log = try await harness.call(.get, "/v1/webhooks/\(id)/deliveries", key: harness.keys.admin)
                return (log.json["items"] as? [Any])?.count == 11
            }
            let log = try await harness.call(.get, "/v1/webhooks/\(id)/deliveries", key: harness.keys.admin)
            let outcomes = (log.json["items"] as? [[String: Any]] ?? []).reversed().map { "\($0["outcome"]!) \($0["statusCode"] ?? "-")" }
            #expect(Array(outcomes.prefix(4)) == ["retrying 500", "retrying 429", "rejected 302", "delivered 200"])
            try await Self.eventually("the cursor at the head") {
                let view = try await harness.call(.get, "/v1/webhooks/\(id)", key: harness.keys.admin)
                return view.json["cursor"] as? Int == Int(head) && view.json["lag"] as? Int == 0
            }
        }
    }

    @Test func aBodyIsTheFeedItemWithItsTypeAndTime() async throws {
        try await Self.run { harness, receiver, _ in
            _ = try await Self.subscribe(harness, receiver, extra: #", "eventTypes": ["stock.moved"], "locationIds": ["PAR-02"]"#)
            try await Self.receive(harness, 2, location: "PAR-01")
            let head = try await Self.receive(harness, 1, location: "PAR-02")
            try await Self.eventually("the PAR-02 event") { !receiver.received.isEmpty }
            try await Task.sleep(for: .milliseconds(300))
            // Only the event at PAR-02 is delivered; its body is the feed's item.
            #expect(receiver.received.map(\.position) == [head])
            let body = try JSONSerialization.jsonObject(with: Data(receiver.received[0].body)) as? [String: Any] ?? [:]
            #expect(body["type"] as? String == "stock.moved")
            let feed = try await harness.call(.get, "/v1/events?after=\(head - 1)", key: harness.keys.admin)
            let item = (feed.json["events"] as? [[String: Any]])?.first ?? [:]
            #expect(body["timestamp"] as? String == item["recordedAt"] as? String)
            #expect(NSDictionary(dictionary: body["data"] as? [String: Any] ?? [:]).isEqual(to: item))
        }
    }

    @Test func gone410DisablesAndResumeGoesOn() async throws {
        try await Self.run { harness, receiver, _ in
            let (id, _) = try await Self.subscribe(harness, receiver)
            receiver.answer([410])
            let head = try await Self.receive(harness, 2)
            try await Self.eventually("the subscription disabled") {
                let view = try await harness.call(.get, "/v1/webhooks/\(id)", key: harness.keys.admin)
                return view.json["status"] as? String == "disabled" && view.json["disabledReason"] as? String == "gone"
            }
            #expect(receiver.received.count == 1)
            // Given the receiver takes them again, when the subscription is resumed, then both arrive.
            #expect(try await harness.call(.post, "/v1/webhooks/\(id)/resume", key: harness.keys.admin).status == .ok)
            try await Self.eventually("both events") { Self.firsts(receiver.received) == [head - 1, head] }
        }
    }

    @Test func aSpentScheduleDisablesWithTheCursorKept() async throws {
        try await Self.run { harness, receiver, _ in
            let (id, _) = try await Self.subscribe(harness, receiver)
            receiver.answer(Array(repeating: 503, count: 6))
            let head = try await Self.receive(harness, 1)
            try await Self.eventually("the schedule spent") {
                let view = try await harness.call(.get, "/v1/webhooks/\(id)", key: harness.keys.admin)
                return view.json["disabledReason"] as? String == "retries_exhausted"
            }
            // One attempt and five retries; the cursor still before the event.
            #expect(receiver.received.count == 6)
            let view = try await harness.call(.get, "/v1/webhooks/\(id)", key: harness.keys.admin)
            #expect(view.json["cursor"] as? Int == Int(head - 1) && view.json["lag"] as? Int == 1)
            #expect(try await harness.call(.post, "/v1/webhooks/\(id)/resume", key: harness.keys.admin).status == .ok)
            try await Self.eventually("the event after resume") { receiver.received.count == 7 }
        }
    }

    @Test func rotationSignsWithBothSecretsAndRedeliveryReplays() async throws {
        try await Self.run { harness, receiver, _ in
            let (id, old) = try await Self.subscribe(harness, receiver)
            let first = try await Self.receive(harness, 2)
            try await Self.eventually("two events") { receiver.received.count == 2 }
            let rotated = try await harness.call(.post, "/v1/webhooks/\(id)/rotate-secret", key: harness.keys.admin)
            let new = rotated.json["secret"] as? String ?? ""
            let head = try await Self.receive(harness, 1)
            try await Self.eventually("the third event") { receiver.received.contains { $0.position == head } }
            // Every delivery after the rotation carries both signatures, each valid.
            let third = receiver.received.first { $0.position == head }!
            #expect(third.signature.split(separator: " ").count == 2)
            #expect(Self.signed(third, by: old) && Self.signed(third, by: new))
            #expect(!receiver.received[0].signature.contains(" "))
            // Redelivery from the first position sends the three again, with their ids.
            let before = receiver.received.count
            let replay = try await harness.call(.post, "/v1/webhooks/\(id)/redeliver", key: harness.keys.admin, body: #"{"fromPosition": \#(first - 1)}"#)
            #expect(replay.status == .ok)
            try await Self.eventually("the replay") { receiver.received.count >= before + 3 }
            #expect(receiver.received.suffix(from: before).prefix(3).map(\.id) == ["evt_\(first - 1)", "evt_\(first)", "evt_\(head)"])
        }
    }

    @Test func anotherInstanceTakesOverALeaseThatRanOut() async throws {
        try await Harness.run(privateWebhookTargets: true) { harness in
            let receiver = try await Receiver.start()
            let tail = Task { await harness.services.tail.run() }
            defer { tail.cancel() }
            let (id, _) = try await Self.subscribe(harness, receiver)
            // Given instance A delivered the first event and is gone,
            let a = Self.dispatcher(harness, Self.shortLease)
            let running = Task { try await a.run() }
            try await Self.receive(harness, 1)
            try await Self.eventually("the first event") { receiver.received.count == 1 }
            running.cancel()
            _ = try? await running.value
            // with a lease of a dead instance on the subscription (it never renews nor releases it),
            _ = try await harness.services.database.withConnection { connection in
                try await connection.query(
                    "UPDATE webhook_subscriptions SET lease_owner = 'oms-dead', lease_until = now() + interval '2 seconds' WHERE id = \(id)",
                    logger: testLogger
                ).collect()
            }
            let started = ContinuousClock.now
            let b = Self.dispatcher(harness, Self.shortLease)
            let other = Task { try await b.run() }
            defer { other.cancel() }
            let head = try await Self.receive(harness, 2)
            // when the lease runs out, then instance B delivers, after it and not before, in order.
            try await Self.eventually("the takeover") { Self.firsts(receiver.received).last == head }
            #expect(ContinuousClock.now - started >= .milliseconds(1_500))
            #expect(Self.firsts(receiver.received) == [head - 2, head - 1, head])
            other.cancel()
            _ = try? await other.value
            await receiver.stop()
        }
    }

    @Test func theLogKeepsTheNewestHundredAttempts() async throws {
        try await Self.run { harness, receiver, _ in
            let (id, _) = try await Self.subscribe(harness, receiver)
            let head = try await Self.receive(harness, 150)
            try await Self.eventually("150 events") { Self.firsts(receiver.received).count == 150 }
            try await Self.eventually("the log written") {
                let log = try await harness.call(.get, "/v1/webhooks/\(id)/deliveries?limit=1", key: harness.keys.admin)
                return (log.json["items"] as? [[String: Any]])?.first?["position"] as? Int == Int(head)
            }
            let rows = try await harness.services.database.withConnection { connection in
                try await connection.query("SELECT count(*) FROM webhook_deliveries WHERE subscription_id = \(id)", logger: testLogger)
                    .collect().first?.decode(Int64.self) ?? 0
            }
            #expect(rows == Int64(Limits.webhookDeliveriesKeptMax))
        }
    }

    @Test func aRevokedIntegrationIsNoLongerDelivered() async throws {
        // The revocation is seen at the next lease round: a quarter of a 2 s lease.
        try await Self.run(settings: Self.shortLease) { harness, receiver, _ in
            let created = try await harness.call(
                .post, "/v1/webhooks", key: harness.keys.integration, body: #"{"url": "\#(receiver.url)"}"#)
            #expect(created.status == .created)
            try await Self.receive(harness, 1)
            try await Self.eventually("the first event") { receiver.received.count == 1 }
            // Given the integration's key is revoked, when events follow, then none is delivered.
            let keyId = created.json["createdBy"] as? String ?? ""
            #expect(try await harness.call(.delete, "/v1/api-keys/\(keyId)", key: harness.keys.admin).status == .ok)
            try await Task.sleep(for: .milliseconds(1_500))
            try await Self.receive(harness, 2)
            try await Task.sleep(for: .milliseconds(1_500))
            #expect(receiver.received.count == 1)
        }
    }

    @Test func theWindowServesRecentEventsAndSendsOlderOnesToTheLedger() {
        let window = EventWindow(capacity: 4)
        #expect(window.read(after: 0, limit: 10) == .behind)
        window.restart(after: 10)
        #expect(window.read(after: 10, limit: 10) == .events([]))
        #expect(window.read(after: 9, limit: 10) == .behind)
        func event(_ position: Int64) -> RecordedEvent {
            RecordedEvent(position: position, stream: "s", streamVersion: position, type: "t", payload: "{}", metadata: "{}", locationIds: [], recordedAt: Date())
        }
        window.append((11...16).map(event))
        // Six kept (under one and a half capacities), then trimmed to four at the seventh.
        if case .events(let kept) = window.read(after: 10, limit: 10) { #expect(kept.map(\.position) == Array(11...16)) }
        window.append([event(17)])
        #expect(window.read(after: 12, limit: 10) == .behind)
        if case .events(let kept) = window.read(after: 13, limit: 10) { #expect(kept.map(\.position) == [14, 15, 16, 17]) }
        #expect(window.head == 17)
    }
}
