import Foundation

/// No port of 127.0.0.1 could be bound.
public struct NoPortBound: Error {}

/// A TCP port on 127.0.0.1 where nothing listens (bound and closed again): a database that is
/// away, for the outage tests.
public func deadPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw NoPortBound() }
    return Int(UInt16(bigEndian: address.sin_port))
}
