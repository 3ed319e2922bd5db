import Foundation
import HTTPTypes
import OmnistockCore
import OmnistockHTTP
import OmnistockStore
import Testing

/// The subscription API: who may do what, every refusal, the secret shown once.
@Suite struct WebhookRouteTests {
    static let hook = #"{"url": "http://127.0.0.1:9/hook", "description": "ERP"}"#

    /// A harness whose webhook targets may be loopback addresses (the tests' receivers).
    static func run(_ body: @Sendable (Harness) async throws -> Void) async throws {
        try await Harness.run(privateWebhookTargets: true, body)
    }

    @Test func aSubscriptionIsMadeWithItsSecretShownOnce() async throws {
        try await Self.run { harness in
            let created = try await harness.call(.post, "/v1/webhooks", key: harness.keys.admin, body: Self.hook, headers: [HTTPField.Name("Idempotency-Key")!: "w1"])
            #expect(created.status == .created)
            let secret = created.json["secret"] as? String ?? ""
            #expect(secret.hasPrefix("whsec_") && Data(base64Encoded: String(secret.dropFirst(6)))?.count == 32)
            #expect(created.json["status"] as? String == "active")
            #expect((created.json["id"] as? String ?? "").hasPrefix("wh_"))
            // The cursor is the ledger's head: two location events were recorded before.
            #expect(created.json["cursor"] as? Int == 2 && created.json["lag"] as? Int == 0)
            // Given the same Idempotency-Key, when it is sent again, then the answer has no secret.
            let replayed = try await harness.call(.post, "/v1/webhooks", key: harness.keys.admin, body: Self.hook, headers: [HTTPField.Name("Idempotency-Key")!: "w1"])
            #expect(replayed.status == .created && replayed.json["secret"] == nil && replayed.json["id"] as? String == created.json["id"] as? String)
            let id = created.json["id"] as? String ?? ""
            let one = try await harness.call(.get, "/v1/webhooks/\(id)", key: harness.keys.admin)
            #expect(one.status == .ok && one.json["secret"] == nil && one.json["url"] as? String == "http://127.0.0.1:9/hook")
            let list = try await harness.call(.get, "/v1/webhooks", key: harness.keys.admin)
            #expect((list.json["items"] as? [[String: Any]])?.count == 1)
        }
    }

    @Test func privateTargetsAreRefusedUnlessAllowed() async throws {
        try await Harness.run { harness in
            for url in ["http://127.0.0.1/hook", "http://[::1]/hook", "http://169.254.169.254/latest/meta-data", "http://10.0.0.5:5432/", "http://localhost/x", "http://2130706433/"] {
                let refused = try await harness.call(.post, "/v1/webhooks", key: harness.keys.admin, body: #"{"url": "\#(url)"}"#)
                #expect(refused.status == .unprocessableContent, "\(url)")
                #expect(refused.codes == ["webhook-target-refused"], "\(url): \(refused.text)")
            }
        }
    }

    @Test func badURLsAndFieldsAreRefusedTogether() async throws {
        try await Self.run { harness in
            for url in ["ftp://x.example/", "not a url", "https://user:pw@x.example/", "https:///nohost", "http://exämple.com/"] {
                let refused = try await harness.call(.post, "/v1/webhooks", key: harness.keys.admin, body: #"{"url": "\#(url)"}"#)
                #expect(refused.status == .unprocessableContent, "\(url)")
            }
            let faults = try await harness.call(
                .post, "/v1/webhooks", key: harness.keys.admin,
                body: #"{"url": "https://x.example/", "eventTypes": ["stock.moved", "nope"], "locationIds": []}"#)
            #expect(faults.status == .unprocessableContent)
            #expect(faults.codes == ["unknown-event-type", "not-allowed"])
            let missing = try await harness.call(.post, "/v1/webhooks", key: harness.keys.admin, body: #"{"description": "x"}"#)
            #expect(missing.status == .unprocessableContent || missing.status == .badRequest)
        }
    }

    @Test func storesAndCheckoutsMayNotSubscribe() async throws {
        try await Self.run { harness in
            for key in [harness.keys.store, harness.keys.checkout] {
                let refused = try await harness.call(.post, "/v1/webhooks", key: key, body: Self.hook)
                #expect(refused.status == .forbidden)
                #expect(try await harness.call(.get, "/v1/webhooks", key: key).status == .forbidden)
            }
        }
    }

    @Test func anIntegrationManagesOnlyItsOwnWithinItsLocations() async throws {
        try await Self.run { harness in
            let bound = try await harness.call(.post, "/v1/webhooks", key: harness.keys.boundIntegration, body: Self.hook)
            #expect(bound.status == .created && bound.json["locationIds"] as? [String] == ["PAR-01"])
            let elsewhere = try await harness.call(
                .post, "/v1/webhooks", key: harness.keys.boundIntegration, body: #"{"url": "http://127.0.0.1:9/", "locationIds": ["PAR-02"]}"#)
            #expect(elsewhere.status == .forbidden)
            let adminOwn = try await harness.call(.post, "/v1/webhooks", key: harness.keys.admin, body: Self.hook)
            let adminId = adminOwn.json["id"] as? String ?? ""
            let boundId = bound.json["id"] as? String ?? ""
            // Another integration sees neither; the admin sees both.
            let others = try await harness.call(.get, "/v1/webhooks", key: harness.keys.integration)
            #expect((others.json["items"] as? [[String: Any]])?.isEmpty == true)
            #expect(try await harness.call(.get, "/v1/webhooks/\(boundId)", key: harness.keys.integration).status == .notFound)
            #expect(try await harness.call(.delete, "/v1/webhooks/\(adminId)", key: harness.keys.boundIntegration).status == .notFound)
            let all = try await harness.call(.get, "/v1/webhooks", key: harness.keys.admin)
            #expect((all.json["items"] as? [[String: Any]])?.count == 2)
        }
    }

    @Test func rotateRedeliverResumeAndDelete() async throws {
        try await Self.run { harness in
            let created = try await harness.call(.post, "/v1/webhooks", key: harness.keys.admin, body: Self.hook)
            let id = created.json["id"] as? String ?? ""
            let rotated = try await harness.call(.post, "/v1/webhooks/\(id)/rotate-secret", key: harness.keys.admin)
            #expect(rotated.status == .ok)
            #expect((rotated.json["secret"] as? String)?.hasPrefix("whsec_") == true && rotated.json["secret"] as? String != created.json["secret"] as? String)
            #expect(rotated.json["previousSecretExpiresAt"] is String)
            let redelivered = try await harness.call(.post, "/v1/webhooks/\(id)/redeliver", key: harness.keys.admin, body: #"{"fromPosition": 1}"#)
            #expect(redelivered.status == .ok && redelivered.json["cursor"] as? Int == 0 && redelivered.json["lag"] as? Int == 2)
            let pastHead = try await harness.call(.post, "/v1/webhooks/\(id)/redeliver", key: harness.keys.admin, body: #"{"fromPosition": 4}"#)
            #expect(pastHead.status == .unprocessableContent && pastHead.codes == ["out-of-range"])
            let zero = try await harness.call(.post, "/v1/webhooks/\(id)/redeliver", key: harness.keys.admin, body: #"{"fromPosition": 0}"#)
            #expect(zero.status == .unprocessableContent)
            let resumed = try await harness.call(.post, "/v1/webhooks/\(id)/resume", key: harness.keys.admin)
            #expect(resumed.status == .ok && resumed.json["status"] as? String == "active")
            let log = try await harness.call(.get, "/v1/webhooks/\(id)/deliveries?limit=5", key: harness.keys.admin)
            #expect(log.status == .ok && (log.json["items"] as? [Any])?.isEmpty == true)
            #expect(try await harness.call(.get, "/v1/webhooks/\(id)/deliveries?limit=0", key: harness.keys.admin).status == .badRequest)
            let deleted = try await harness.call(.delete, "/v1/webhooks/\(id)", key: harness.keys.admin)
            #expect(deleted.status == .ok && deleted.json["status"] as? String == "deleted")
            for (method, path) in [(HTTPRequest.Method.get, ""), (.delete, ""), (.post, "/resume"), (.post, "/rotate-secret"), (.get, "/deliveries")] {
                #expect(try await harness.call(method, "/v1/webhooks/\(id)\(path)", key: harness.keys.admin).status == .notFound, "\(method) \(path)")
            }
        }
    }
}
