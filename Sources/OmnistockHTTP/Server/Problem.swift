import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import OmnistockCore
import OmnistockStore

/// An RFC 9457 problem: the one shape every error response of the service has.
///
/// This file is the only place where a rejection becomes a status code. `type` is a stable URI
/// per kind of problem; `errors` names every field at fault with its rejection code.
public struct Problem: Error, Sendable, Equatable {
    public struct FieldError: Codable, Sendable, Equatable {
        public var field: String?
        public var code: String
        public var detail: String
        /// For stock refusals: what was asked and what there was, so a client can offer less.
        public var sku: String?
        public var locationId: String?
        public var requested: Int64?
        public var available: Int64?
        /// For refused steps: the status the order or transfer is in.
        public var currentStatus: String?
        /// For wrong pickup codes: how many more before the order locks.
        public var attemptsLeft: Int?

        public init(
            field: String?, code: String, detail: String, sku: String? = nil, locationId: String? = nil, requested: Int64? = nil,
            available: Int64? = nil
        ) {
            self.field = field
            self.code = code
            self.detail = detail
            self.sku = sku
            self.locationId = locationId
            self.requested = requested
            self.available = available
        }

        init(_ rejection: Rejection, field: String?) {
            self.init(field: field, code: rejection.code, detail: rejection.detail)
            var inner = rejection
            while case .inLine(_, let nested) = inner { inner = nested }
            if case .insufficientStock(let sku, let locationId, let requested, let available) = inner {
                self.sku = sku
                self.locationId = locationId
                self.requested = requested
                self.available = available
            }
            if case .invalidTransition(let status, _) = inner { self.currentStatus = status }
            if case .pickupCodeWrong(let attemptsLeft) = inner { self.attemptsLeft = attemptsLeft }
        }
    }

    public var status: HTTPResponse.Status
    /// The last segment of the `type` URI (`https://omnistock.dev/problems/<kind>`).
    public var kind: String
    public var title: String
    public var detail: String
    public var errors: [FieldError]
    public var headers: HTTPFields = [:]

    public init(status: HTTPResponse.Status, kind: String, title: String, detail: String, errors: [FieldError] = []) {
        self.status = status
        self.kind = kind
        self.title = title
        self.detail = detail
        self.errors = errors
    }

    /// The problem for a set of rejections found together; the status is that of the first.
    public init(_ rejections: Rejections, inBody: Bool = true) {
        let first = rejections.all[0]
        let (status, kind, title) = Self.classify(first, inBody: inBody)
        self.init(
            status: status, kind: kind, title: title,
            detail: rejections.all.count == 1 ? first.detail : "The request has \(rejections.all.count) faults; see errors.",
            errors: rejections.all.map { rejection in
                FieldError(rejection, field: Self.fieldName(rejection, inBody: inBody))
            })
    }

    /// Body fields are named as JSON pointers (`/capabilities/pickup`), as decoding errors are;
    /// path and query parameters and headers keep their own names.
    static func fieldName(_ rejection: Rejection, inBody: Bool) -> String? {
        guard let field = rejection.field else { return nil }
        switch rejection {
        case .missingField, .invalidIdentifier, .invalidText, .outOfRange, .tooMany, .duplicate, .notAllowed, .inLine,
            .countTimeOutOfRange, .insufficientStock, .pickupCodeWrong, .webhookTargetRefused, .unknownEventType:
            return inBody && !field.hasPrefix("/") ? "/" + field : field
        case .invalidCursor, .insufficientOnHand, .unknownLocation, .locationInactive, .locationLacksCapability, .unknownHold,
            .holdNotActive, .unknownApiKey, .unknownOrder, .unknownOrderLine, .unknownTransfer, .invalidTransition,
            .linesInTransit, .pickupLocked, .roleForbidden, .locationForbidden, .idempotencyKeyReused, .concurrentModification,
            .unknownWebhook, .webhookLimitReached:
            // These name a query parameter, a path parameter or a resource, never a body field.
            return field
        }
    }

    public init(_ rejection: Rejection, inBody: Bool = true) {
        self.init(Rejections(rejection), inBody: inBody)
    }

    /// Status, problem kind and title for a rejection.
    ///
    /// Validation faults in a body are 422 (the JSON was well-formed, its values break a rule);
    /// in the path or query they are 400 (the request itself is malformed).
    static func classify(_ rejection: Rejection, inBody: Bool) -> (HTTPResponse.Status, String, String) {
        switch rejection {
        case .inLine(_, let inner):
            // A line of a body that names something unknown makes the body invalid (422), where
            // the same name in a path is a missing resource (404).
            switch inner {
            case .unknownLocation, .unknownApiKey, .unknownHold, .locationInactive, .locationLacksCapability, .unknownOrder, .unknownTransfer,
                .unknownOrderLine:
                (.unprocessableContent, "validation-failed", "The request's values are not valid")
            case .missingField, .invalidIdentifier, .invalidText, .outOfRange, .tooMany, .duplicate, .notAllowed, .invalidCursor,
                .inLine, .insufficientOnHand, .insufficientStock, .countTimeOutOfRange, .holdNotActive, .invalidTransition,
                .linesInTransit, .pickupCodeWrong, .pickupLocked, .roleForbidden, .locationForbidden, .idempotencyKeyReused,
                .concurrentModification, .unknownWebhook, .webhookTargetRefused, .unknownEventType, .webhookLimitReached:
                // Anything else in a line is what it would be on its own.
                classify(inner, inBody: inBody)
            }
        case .insufficientOnHand, .insufficientStock:
            (.conflict, "insufficient-stock", "Not enough stock")
        case .holdNotActive:
            (.conflict, "hold-not-active", "The hold is not active")
        case .invalidTransition:
            (.conflict, "invalid-transition", "Not possible in the current status")
        case .linesInTransit:
            (.conflict, "lines-in-transit", "Lines are still in transit")
        case .pickupLocked:
            (.conflict, "pickup-locked", "Locked for collection")
        case .pickupCodeWrong:
            (.unprocessableContent, "pickup-code-wrong", "Wrong pickup code")
        case .unknownOrder, .unknownOrderLine, .unknownTransfer:
            (.notFound, "not-found", "Not found")
        case .locationInactive, .locationLacksCapability:
            inBody
                ? (.unprocessableContent, "validation-failed", "The request's values are not valid")
                : (.conflict, "location-unusable", "The location cannot do this")
        case .missingField, .invalidIdentifier, .invalidText, .outOfRange, .tooMany, .duplicate, .notAllowed,
            .invalidCursor, .countTimeOutOfRange:
            inBody
                ? (.unprocessableContent, "validation-failed", "The request's values are not valid")
                : (.badRequest, "invalid-parameter", "A path or query parameter is not valid")
        case .unknownLocation, .unknownApiKey, .unknownHold, .unknownWebhook:
            (.notFound, "not-found", "Not found")
        case .webhookTargetRefused:
            (.unprocessableContent, "webhook-target-refused", "The webhook's target may not be reached")
        case .unknownEventType:
            inBody
                ? (.unprocessableContent, "validation-failed", "The request's values are not valid")
                : (.badRequest, "invalid-parameter", "A path or query parameter is not valid")
        case .webhookLimitReached:
            (.conflict, "webhook-limit-reached", "Too many webhook subscriptions")
        case .roleForbidden, .locationForbidden:
            (.forbidden, "forbidden", "Forbidden")
        case .idempotencyKeyReused:
            (.unprocessableContent, "idempotency-key-reused", "Idempotency-Key reused")
        case .concurrentModification:
            (.conflict, "concurrent-modification", "Concurrent modification")
        }
    }

    /// The problem+json document, encoded.
    ///
    /// Its fields are strings and integers, which the encoder always takes; should that ever
    /// change, the failure is thrown rather than sent as an empty body.
    private func document(requestId: String) throws -> Data {
        struct Body: Encodable {
            var type: String
            var title: String
            var status: Int
            var detail: String
            var requestId: String
            var errors: [FieldError]?
        }
        let body = Body(
            type: "https://omnistock.dev/problems/\(kind)", title: title, status: Int(status.code), detail: detail,
            requestId: requestId, errors: errors.isEmpty ? nil : errors)
        return try JSON.encoder.encode(body)
    }

    // MARK: Problems of the request itself, not of the domain.

    static func badRequest(_ detail: String, field: String? = nil, code: String = "malformed-request") -> Problem {
        Problem(
            status: .badRequest, kind: "malformed-request", title: "The request is malformed", detail: detail,
            errors: [FieldError(field: field, code: code, detail: detail)])
    }

    static func unauthorized(_ detail: String) -> Problem {
        var problem = Problem(status: .unauthorized, kind: "unauthorized", title: "Unauthorized", detail: detail)
        problem.headers[.wwwAuthenticate] = "Bearer realm=\"omnistock\""
        return problem
    }

    static func notFound(_ detail: String) -> Problem {
        Problem(status: .notFound, kind: "not-found", title: "Not found", detail: detail)
    }

    static func methodNotAllowed(allowed: [String]) -> Problem {
        var problem = Problem(
            status: .methodNotAllowed, kind: "method-not-allowed", title: "Method not allowed",
            detail: "This path accepts \(allowed.joined(separator: ", ")).")
        problem.headers[.allow] = allowed.joined(separator: ", ")
        return problem
    }

    static func unsupportedMediaType() -> Problem {
        Problem(
            status: .unsupportedMediaType, kind: "unsupported-media-type", title: "Unsupported media type",
            detail: "Send the body as application/json.")
    }

    static func contentTooLarge() -> Problem {
        Problem(
            status: .contentTooLarge, kind: "content-too-large", title: "Content too large",
            detail: "The body is larger than \(Limits.requestBodyBytesMax) bytes.")
    }

    static func overloaded(queueDepthMax: Int) -> Problem {
        var problem = Problem(
            status: .serviceUnavailable, kind: "overloaded", title: "Too many requests waiting",
            detail: "\(queueDepthMax) requests are already waiting for this instance's writer; retry after the Retry-After delay.")
        problem.headers[.retryAfter] = "1"
        return problem
    }

    static func unavailable(_ detail: String) -> Problem {
        var problem = Problem(status: .serviceUnavailable, kind: "unavailable", title: "Service unavailable", detail: detail)
        problem.headers[.retryAfter] = "1"
        return problem
    }

    /// The database is away (an outage, a restart) or the connection was lost: nothing was
    /// changed, except that a write whose COMMIT was cut off may have committed, which a retry
    /// with the same Idempotency-Key finds out (it gets the first answer, or runs).
    static func databaseUnavailable(_ error: any Error) -> Problem {
        if let error = error as? DatabaseUnavailable, error.reason == .commitOutcomeUnknown {
            return unavailable(
                "The database connection was lost while the write committed; retry with the same Idempotency-Key to get its outcome.")
        }
        return unavailable("The database is unavailable; retry after the Retry-After delay.")
    }

    static func internalError(requestId: String) -> Problem {
        Problem(
            status: .internalServerError, kind: "internal-error", title: "Internal error",
            detail: "Something failed on our side; nothing was changed unless a 2xx was returned. Quote request id \(requestId).")
    }

    /// The problem+json document.
    func body(requestId: String) throws -> [UInt8] {
        Array(try document(requestId: requestId))
    }

    /// The problem+json response.
    func response(requestId: String) throws -> Response {
        var headers = headers
        headers[.contentType] = "application/problem+json"
        let bytes = try document(requestId: requestId)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
