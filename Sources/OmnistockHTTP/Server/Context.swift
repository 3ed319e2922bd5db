import HTTPTypes
import Hummingbird
import NIOCore
import Logging
import OmnistockCore

/// The per-request state the edge carries from middleware to handler.
public struct OmsContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The authenticated caller; set by `AuthMiddleware` on every `/v1` route.
    public var principal: Principal?
    /// The request id, echoed in `X-Request-Id`, in logs and as the events' correlation id.
    public var requestId: String = ""
    /// The address the connection comes from (the guessing bound of tracking links counts per
    /// address); nil when unknown (a test's in-memory channel). Behind a proxy, the proxy's.
    public var clientAddress: String?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.clientAddress = source.channel.remoteAddress?.ipAddress
    }

    /// Bodies are read up to this many bytes; more is answered with 413.
    public var maxUploadSize: Int { Limits.requestBodyBytesMax }

    /// The caller, which the auth middleware guarantees on every `/v1` route.
    func caller() throws -> Principal {
        guard let principal else { throw Problem.unauthorized("Authentication is required.") }
        return principal
    }

    /// Refuses the request unless the caller may perform `operation` on `locations`.
    func authorize(_ operation: Operation, locations: [String] = []) throws -> Principal {
        let principal = try caller()
        if let refusal = Access.authorize(principal, operation, locations: locations) {
            throw Problem(refusal)
        }
        return principal
    }
}

extension HTTPField.Name {
    static let requestId = Self("X-Request-Id")!
    static let idempotencyKey = Self("Idempotency-Key")!
    static let idempotentReplayed = Self("Idempotent-Replayed")!
    /// The ledger position an answer reflects (a read) or reached (a write).
    static let ledgerPosition = Self("Omnistock-Position")!
}
