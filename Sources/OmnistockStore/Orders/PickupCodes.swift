import Crypto
import Foundation
import OmnistockCore

/// Pickup codes: drawn from the system's secure generator, shown once, stored as SHA-256 of the
/// order id and the code (the same code on two orders hashes differently).
enum PickupCodes {
    /// 32 symbols without the look-alikes 0/O and 1/I: a draw of 5 bits is exactly uniform.
    static let alphabet = Array("ABCDEFGHJKLMNPQRSTUVWXYZ23456789")

    static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        return String((0..<Limits.pickupCodeLength).map { _ in alphabet[Int(generator.next() & 31 as UInt64)] })
    }

    /// Codes are read aloud and typed: case and surrounding spaces do not matter.
    static func hash(_ code: String, orderId: String) -> [UInt8] {
        let normalized = code.trimmingCharacters(in: .whitespaces).uppercased()
        return Array(SHA256.hash(data: Data((orderId + ":" + normalized).utf8)))
    }

    /// Compares in time independent of where the first difference is.
    static func equal(_ left: [UInt8], _ right: [UInt8]) -> Bool {
        guard left.count == right.count else { return false }
        var difference: UInt8 = 0
        for index in left.indices { difference |= left[index] ^ right[index] }
        return difference == 0
    }
}
