import Dispatch
import Foundation
import OmnistockCore

#if canImport(Glibc)
import Glibc
#endif

/// Whether a webhook target's host may be reached: every address it resolves to must be public
/// (`WebhookTarget.classify`), unless private targets are allowed (tests, a single box).
public enum TargetCheck: Equatable, Sendable {
    case allowed
    case refused(Rejection)
}

/// Resolves hosts with the system resolver, on a thread of its own (getaddrinfo blocks), and
/// judges every address it gives.
///
/// The check is made again before each delivery, so a name that later resolves to a private
/// address (DNS rebinding) is refused then. A window remains between this resolution and the
/// HTTP client's own; closing it would mean connecting to the checked address while sending the
/// name for TLS, which the HTTP client does not offer.
public struct TargetResolver: Sendable {
    public let allowPrivate: Bool

    public init(allowPrivate: Bool) {
        self.allowPrivate = allowPrivate
    }

    /// The host of a URL as the parser gave it, without the brackets of an IPv6 literal.
    public static func bareHost(_ host: String) -> String {
        host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
    }

    public func check(host rawHost: String) async -> TargetCheck {
        if allowPrivate { return .allowed }
        let host = Self.bareHost(rawHost)
        let addresses: [[UInt8]]? = await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: Self.resolve(host)) }
        }
        guard let addresses, !addresses.isEmpty else {
            return .refused(.notAllowed(field: "url", reason: "the host '\(host.prefix(255))' does not resolve"))
        }
        for address in addresses {
            let verdict = address.count == 4
                ? WebhookTarget.classify(ipv4: address[0], address[1], address[2], address[3])
                : WebhookTarget.classify(ipv6: address)
            if case .refused(let reason) = verdict { return .refused(.webhookTargetRefused(host: String(host.prefix(255)), reason: reason)) }
        }
        return .allowed
    }

    /// Every address of `host` (4 bytes for IPv4, 16 for IPv6), or nil when it does not resolve.
    static func resolve(_ host: String) -> [[UInt8]]? {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var first: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &first) == 0, let first else { return nil }
        defer { freeaddrinfo(first) }
        var addresses: [[UInt8]] = []
        var next: UnsafeMutablePointer<addrinfo>? = first
        // A resolver answer is bounded by its message size; the loop is bounded all the same.
        for _ in 0..<256 {
            guard let info = next else { break }
            if let address = info.pointee.ai_addr {
                switch Int32(address.pointee.sa_family) {
                case AF_INET:
                    address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { ipv4 in
                        var value = ipv4.pointee.sin_addr
                        addresses.append(withUnsafeBytes(of: &value) { Array($0) })
                    }
                case AF_INET6:
                    address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { ipv6 in
                        var value = ipv6.pointee.sin6_addr
                        addresses.append(withUnsafeBytes(of: &value) { Array($0) })
                    }
                default:
                    break
                }
            }
            next = info.pointee.ai_next
        }
        return addresses
    }
}

/// Told of every delivery attempt and of each subscription's lag (the edge's metrics).
public protocol WebhookDeliveryObserver: Sendable {
    func attempted(subscription: String, outcome: DeliveryOutcome, seconds: Double)
    func lag(subscription: String, events: Int64)
    /// The instance no longer delivers the subscription (deleted, disabled, lease lost).
    func stopped(subscription: String)
}
