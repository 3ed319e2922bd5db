import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import OmnistockCore

/// One POST of a delivery, the Standard Webhooks way, and what came of it.
struct SendResult: Sendable {
    var statusCode: Int?
    var retryAfterSeconds: Int64?
    var error: String?
    var seconds: Double
}

/// The HTTP client of webhook delivery: redirects are not followed (a 3xx is an answer, not a
/// way to reach another host), TLS certificates are verified (the client's default), every
/// request ends within `Limits.webhookTimeoutSeconds`, and at most
/// `Limits.webhookResponseBytesMax` of an answer is read.
final class WebhookSender: Sendable {
    let client: HTTPClient

    init() {
        let timeout = TimeAmount.seconds(Limits.webhookTimeoutSeconds)
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow, timeout: .init(connect: timeout, read: timeout))
        configuration.decompression = .disabled
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    func shutdown() async {
        try? await client.shutdown()
    }

    /// POSTs `body` to `url` with the three Standard Webhooks headers; never throws.
    func send(url: String, webhookId: String, timestamp: Int64, body: [UInt8], secrets: [String], timeout: Duration) async -> SendResult {
        let started = ContinuousClock.now
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        request.headers.add(name: "user-agent", value: "Omnistock-Webhooks/1")
        request.headers.add(name: "webhook-id", value: webhookId)
        request.headers.add(name: "webhook-timestamp", value: String(timestamp))
        request.headers.add(name: "webhook-signature", value: WebhookSignature.header(id: webhookId, timestamp: timestamp, body: body, secrets: secrets))
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            let nanoseconds = timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000
            let response = try await client.execute(request, timeout: .nanoseconds(nanoseconds))
            // The answer is read (and dropped) up to a bound, so the connection can be reused;
            // past it the rest is left and the connection goes with the response.
            var read = 0
            var excerpt: [UInt8] = []
            for try await chunk in response.body {
                if excerpt.count < Limits.webhookErrorLengthMax { excerpt += chunk.readableBytesView.prefix(Limits.webhookErrorLengthMax - excerpt.count) }
                read += chunk.readableBytes
                if read >= Limits.webhookResponseBytesMax { break }
            }
            let code = Int(response.status.code)
            let retryAfter = response.headers.first(name: "retry-after").flatMap(Self.retryAfterSeconds)
            let error = (200..<300).contains(code) ? nil : "HTTP \(code)" + (excerpt.isEmpty ? "" : ": " + String(decoding: excerpt, as: UTF8.self))
            return SendResult(
                statusCode: code, retryAfterSeconds: code == 429 || code == 503 ? retryAfter : nil, error: error,
                seconds: Self.seconds(since: started))
        } catch {
            return SendResult(
                statusCode: nil, retryAfterSeconds: nil, error: String(String(describing: error).prefix(Limits.webhookErrorLengthMax)),
                seconds: Self.seconds(since: started))
        }
    }

    /// `Retry-After` in seconds (its delay form; an HTTP date is read as a delay from now).
    static func retryAfterSeconds(_ value: String) -> Int64? {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        if let seconds = Int64(trimmed), seconds >= 0 { return seconds }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: trimmed) else { return nil }
        return max(0, Int64(date.timeIntervalSinceNow.rounded(.up)))
    }

    static func seconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }
}

/// The `webhook-signature` header of Standard Webhooks: `v1,` and the base64 HMAC-SHA256 of
/// `id.timestamp.body`, keyed with the secret's bytes, one per secret, space separated.
enum WebhookSignature {
    static func header(id: String, timestamp: Int64, body: [UInt8], secrets: [String]) -> String {
        precondition(!secrets.isEmpty, "a delivery is signed")
        var message = Array("\(id).\(timestamp).".utf8)
        message += body
        return secrets.map { secret in
            let key = SymmetricKey(data: key(of: secret))
            let code = HMAC<SHA256>.authenticationCode(for: message, using: key)
            return "v1," + Data(code).base64EncodedString()
        }.joined(separator: " ")
    }

    /// The bytes of a `whsec_` secret.
    static func key(of secret: String) -> [UInt8] {
        let encoded = secret.hasPrefix("whsec_") ? String(secret.dropFirst(6)) : secret
        guard let data = Data(base64Encoded: encoded) else { preconditionFailure("a stored webhook secret is base64") }
        return Array(data)
    }
}
