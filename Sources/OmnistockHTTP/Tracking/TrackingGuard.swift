import OmnistockCore
import Synchronization

/// Guessing of tracking links, per client address: past `Limits.trackingMissesPerWindowMax`
/// unknown tokens within a window of `Limits.trackingMissWindowSeconds`, every tracking request
/// of that address is refused (429) until the window ends. A token of 256 random bits cannot
/// be guessed; this keeps a scan from costing the database a read per guess, and says so in
/// `/metrics`. At most `Limits.trackingAddressesMax` addresses are remembered; past that the
/// one whose window began first is forgotten.
final class TrackingGuard: Sendable {
    struct Window {
        var startedMs: Int64
        var misses: Int
    }

    private let windows = Mutex<[String: Window]>([:])

    /// The seconds `address` must wait before asking again, or nil when it may ask now.
    func refusal(for address: String, nowMs: Int64) -> Int64? {
        windows.withLock { windows in
            guard let window = windows[address] else { return nil }
            let endsMs = window.startedMs + Limits.trackingMissWindowSeconds * 1_000
            if nowMs >= endsMs {
                windows[address] = nil
                return nil
            }
            guard window.misses >= Limits.trackingMissesPerWindowMax else { return nil }
            return max(1, (endsMs - nowMs + 999) / 1_000)
        }
    }

    /// `address` asked for a token that opens nothing.
    func missed(_ address: String, nowMs: Int64) {
        windows.withLock { windows in
            if var window = windows[address], nowMs < window.startedMs + Limits.trackingMissWindowSeconds * 1_000 {
                window.misses += 1
                windows[address] = window
                return
            }
            if windows[address] == nil, windows.count >= Limits.trackingAddressesMax {
                Self.forgetOldest(&windows, nowMs: nowMs)
            }
            windows[address] = Window(startedMs: nowMs, misses: 1)
            assert(windows.count <= Limits.trackingAddressesMax, "the guard remembers a bounded number of addresses")
        }
    }

    /// Makes room: windows that ended go; if none did, the oldest one.
    private static func forgetOldest(_ windows: inout [String: Window], nowMs: Int64) {
        let cutoff = nowMs - Limits.trackingMissWindowSeconds * 1_000
        windows = windows.filter { $0.value.startedMs > cutoff }
        if windows.count >= Limits.trackingAddressesMax, let oldest = windows.min(by: { $0.value.startedMs < $1.value.startedMs })?.key {
            windows[oldest] = nil
        }
    }
}
