/// Which addresses a webhook may be sent to: server-side request forgery is the risk of a service
/// that POSTs to URLs its callers choose (a subscription to `http://169.254.169.254/` would read
/// the cloud's instance credentials; one to `http://10.0.0.5:5432/` would probe the database).
///
/// Every address a target's host resolves to must be public; the check is made when the
/// subscription is created (422) and again before each delivery (DNS answers change).
public enum TargetAddressClass: Equatable, Sendable {
    case `public`
    /// Not reachable for webhooks; the reason names the range.
    case refused(String)
}

public enum WebhookTarget {
    /// The class of an IPv4 address, its four bytes in network order.
    public static func classify(ipv4 a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) -> TargetAddressClass {
        switch (a, b) {
        case (0, _): return .refused("'this network' (0.0.0.0/8)")
        case (10, _): return .refused("private (10.0.0.0/8)")
        case (100, 64...127): return .refused("shared address space (100.64.0.0/10)")
        case (127, _): return .refused("loopback (127.0.0.0/8)")
        case (169, 254): return .refused("link-local, where cloud metadata services answer (169.254.0.0/16)")
        case (172, 16...31): return .refused("private (172.16.0.0/12)")
        case (192, 168): return .refused("private (192.168.0.0/16)")
        case (198, 18...19): return .refused("benchmarking (198.18.0.0/15)")
        case (224...239, _): return .refused("multicast (224.0.0.0/4)")
        case (240...255, _): return .refused("reserved (240.0.0.0/4)")
        default: break
        }
        if a == 192 && b == 0 && (c == 0 || c == 2) { return .refused("reserved (192.0.0.0/24, 192.0.2.0/24)") }
        if a == 198 && b == 51 && c == 100 { return .refused("documentation (198.51.100.0/24)") }
        if a == 203 && b == 0 && c == 113 { return .refused("documentation (203.0.113.0/24)") }
        _ = d
        return .public
    }

    /// The class of an IPv6 address, its sixteen bytes in network order. Addresses that carry an
    /// IPv4 one (mapped, NAT64, 6to4) are judged by it.
    public static func classify(ipv6 bytes: [UInt8]) -> TargetAddressClass {
        precondition(bytes.count == 16, "an IPv6 address has 16 bytes")
        let zeroPrefix = bytes[0..<10].allSatisfy { $0 == 0 }
        if zeroPrefix && bytes[10] == 0 && bytes[11] == 0 {
            if bytes[12..<15].allSatisfy({ $0 == 0 }) && (bytes[15] == 0 || bytes[15] == 1) {
                return .refused(bytes[15] == 1 ? "loopback (::1)" : "unspecified (::)")
            }
            // IPv4-compatible (deprecated): judged by the IPv4 address it carries.
            return classify(ipv4: bytes[12], bytes[13], bytes[14], bytes[15])
        }
        if zeroPrefix && bytes[10] == 0xff && bytes[11] == 0xff {
            return classify(ipv4: bytes[12], bytes[13], bytes[14], bytes[15])
        }
        // NAT64 (64:ff9b::/96) reaches the IPv4 address in its last four bytes.
        if bytes[0] == 0x00 && bytes[1] == 0x64 && bytes[2] == 0xff && bytes[3] == 0x9b && bytes[4..<12].allSatisfy({ $0 == 0 }) {
            return classify(ipv4: bytes[12], bytes[13], bytes[14], bytes[15])
        }
        // 6to4 (2002::/16) carries an IPv4 address in bytes 2 to 5.
        if bytes[0] == 0x20 && bytes[1] == 0x02 { return classify(ipv4: bytes[2], bytes[3], bytes[4], bytes[5]) }
        if bytes[0] & 0xfe == 0xfc { return .refused("unique local, private (fc00::/7), where AWS's IPv6 metadata service answers") }
        if bytes[0] == 0xfe && bytes[1] & 0xc0 == 0x80 { return .refused("link-local (fe80::/10)") }
        if bytes[0] == 0xfe && bytes[1] & 0xc0 == 0xc0 { return .refused("site-local, deprecated private (fec0::/10)") }
        if bytes[0] == 0xff { return .refused("multicast (ff00::/8)") }
        if bytes[0] == 0x20 && bytes[1] == 0x01 && bytes[2] == 0x0d && bytes[3] == 0xb8 { return .refused("documentation (2001:db8::/32)") }
        return .public
    }

    /// Faults of a target URL's parts that need no resolution: scheme, host, credentials.
    /// `scheme` and `host` are as a URL parser gave them (nil when absent).
    public static func check(scheme: String?, host: String?, hasUserInfo: Bool, length: Int) -> Rejection? {
        guard length <= Limits.webhookURLLengthMax else { return .invalidText(field: "url", lengthMax: Limits.webhookURLLengthMax) }
        guard let scheme = scheme?.lowercased(), scheme == "https" || scheme == "http" else {
            return .notAllowed(field: "url", reason: "only http and https URLs are delivered to")
        }
        guard let host, !host.isEmpty else { return .notAllowed(field: "url", reason: "the URL has no host") }
        if hasUserInfo {
            return .notAllowed(field: "url", reason: "credentials in a URL are stored and logged in plain; the receiver verifies the signature instead")
        }
        return nil
    }
}
