import Crypto
import Foundation
import Logging
import OmnistockCore
import PostgresNIO

/// The tokens of the customer's tracking links: drawn from the system's secure generator,
/// shown once, stored as SHA-256 (`tracking_tokens`, migration 0015).
public enum TrackingTokens {
    /// A new token: `Limits.trackingTokenBytes` random bytes, base64url without padding.
    public static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<Limits.trackingTokenBytes).map { _ in UInt8.random(in: 0 ... .max, using: &generator) }
        let text = Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        assert(text.count == (Limits.trackingTokenBytes * 4 + 2) / 3, "a token is its bytes in base64url")
        return text
    }

    public static func hash(_ token: String) -> [UInt8] {
        Array(SHA256.hash(data: Data(token.utf8)))
    }

    /// The SQL that records a token of `orderId` (parameters: order id, hash, time).
    static func insert(orderId: String, token: String, nowMs: Int64) -> PostgresQuery {
        "INSERT INTO tracking_tokens (order_id, token_hash, created_at_ms) VALUES (\(orderId), \(ByteBuffer(bytes: hash(token))), \(nowMs))"
    }
}

extension OrderStore {
    /// The order a tracking token opens: nil when the token is unknown or revoked. Every token
    /// costs the same here: a hash and one read by primary key, whatever it is (a guess gets
    /// its 404 in the time a real link gets its order).
    public func trackedOrderId(token: String) async throws -> String? {
        let hash = TrackingTokens.hash(String(token.prefix(Limits.trackingTokenLengthMax)))
        return try await database.withConnection { connection in
            let rows = try await connection.query(
                "SELECT order_id, revoked_at_ms IS NULL FROM tracking_tokens WHERE token_hash = \(ByteBuffer(bytes: hash))",
                logger: self.logger
            ).decode((String, Bool).self)
            for try await (orderId, live) in rows { return live && token.count <= Limits.trackingTokenLengthMax ? orderId : nil }
            return nil
        }
    }

    /// Revokes every live tracking link of an order and issues a new one, in `transaction`;
    /// the new token (shown once), or nil when there is no such order. The caller must be
    /// allowed to read the order.
    public func reissueTracking(orderId: String, principal: Principal, in transaction: Transaction) async throws -> String? {
        let connection = transaction.connection
        guard let record = try await orderRow("id", orderId, lock: true, on: connection) else { return nil }
        try authorizeRead(principal, record.order)
        let nowMs = try await Clock.now(on: connection, logger: logger)
        try await connection.query(
            "UPDATE tracking_tokens SET revoked_at_ms = \(nowMs) WHERE order_id = \(orderId) AND revoked_at_ms IS NULL",
            logger: logger)
        let token = TrackingTokens.make()
        try await connection.query(TrackingTokens.insert(orderId: orderId, token: token, nowMs: nowMs), logger: logger)
        return token
    }

    /// The tracking of an order, folded from its events in the ledger (at most
    /// `Limits.trackingEventsMax`); nil when it has none.
    public func tracking(orderId: String) async throws -> OrderTracking? {
        let stream = Order.stream(orderId)
        let events = try await database.withConnection { connection in
            var events: [(position: Int64, recorded: OrderRecorded)] = []
            let rows = try await connection.query(
                """
                SELECT position, type, payload::text FROM ledger WHERE stream = \(stream)
                 ORDER BY stream_version LIMIT \(Limits.trackingEventsMax)
                """, logger: self.logger
            ).decode((Int64, String, String).self)
            for try await (position, type, payload) in rows {
                guard case .order(let recorded) = try EventCodec.decode(type: type, payload: payload) else {
                    throw StoreError.corrupt("the order stream \(stream) holds a \(type) event")
                }
                events.append((position, recorded))
            }
            return events
        }
        return OrderTracking.fold(events)
    }
}
