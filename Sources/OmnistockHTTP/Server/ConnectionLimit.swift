#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import HummingbirdCore
import Logging
import OmnistockCore

/// How many HTTP connections an instance may hold open, given its descriptor limit.
///
/// At the limit (`ulimit -n`) accept fails with EMFILE, which SwiftNIO survives by pausing
/// accepts for a second, but libdispatch does not: every second its thread-pool monitor opens
/// `/proc/<tid>/stat` for each worker thread while work is queued, and when that `open` fails
/// it traps (`DISPATCH_CLIENT_CRASH`, "workq: registered worker exited prematurely", Signal 4).
/// That is how `oms` died after 20,000 connections filled its descriptors and 10,100 of them
/// closed: the closes queued work, and the backlog took the freed descriptors at once. The cure
/// is to never reach the limit: connections stop being accepted while descriptors remain for
/// the database pool, the process's own files and that monitor.
public struct ConnectionBudget: Sendable, Equatable {
    /// What the instance will serve at most.
    public let limit: Int
    /// Descriptors the process may hold (`ulimit -n`).
    public let descriptorLimit: Int
    /// Set when the requested (default) limit did not fit and was lowered to `limit`.
    public let lowered: Bool

    /// A budget the descriptor limit cannot give: the reason, for the operator.
    public struct Refusal: Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    /// The limit for `requested` connections when the process may hold `descriptorLimit`
    /// descriptors and its database pool takes up to `poolSize`. A limit the operator chose
    /// that does not fit is refused; the default is lowered to what fits.
    public static func resolve(
        requested: Int, chosen: Bool, descriptorLimit: Int, poolSize: Int
    ) -> Result<ConnectionBudget, Refusal> {
        let room = descriptorLimit - poolSize - Limits.descriptorsReservedCount
        let fits = "ulimit -n is \(descriptorLimit), which leaves \(max(room, 0)) connections after "
            + "\(poolSize) for the database pool and \(Limits.descriptorsReservedCount) for the process"
        if room < Limits.httpConnectionLimitMin {
            return .failure(Refusal(description: "too few file descriptors to serve HTTP: \(fits); raise ulimit -n"))
        }
        if requested <= room {
            return .success(ConnectionBudget(limit: requested, descriptorLimit: descriptorLimit, lowered: false))
        }
        if chosen {
            return .failure(Refusal(description:
                "oms.http.connection.limit \(requested) does not fit: \(fits); lower it or raise ulimit -n"))
        }
        return .success(ConnectionBudget(limit: room, descriptorLimit: descriptorLimit, lowered: true))
    }

    /// What tells the server to stop accepting at `limit` open connections. New connections then
    /// wait in the listen backlog until one closes, rather than being accepted and closed: an
    /// accept takes the very descriptor this limit exists to keep, and a client that waits is
    /// served when a slow or idle connection's timeout frees its place.
    public func acceptGate(logger: Logger) -> any AvailableConnectionsDelegate {
        MaximumAvailableConnections(limit, logger: logger)
    }

    /// Raises the soft descriptor limit to the hard one, as Go programs do at start: the soft
    /// default (often 1,024) dates from select(2), which SwiftNIO does not use. Returns the soft
    /// limit in force afterwards, or nil when it cannot be read.
    public static func raiseDescriptorLimit() -> Int? {
        var limits = rlimit()
        #if os(Linux)
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        #else
        let resource = RLIMIT_NOFILE
        #endif
        guard getrlimit(resource, &limits) == 0 else { return nil }
        #if os(macOS)
        // Darwin refuses a soft limit above OPEN_MAX whatever the hard limit says.
        let target = min(limits.rlim_max, rlim_t(OPEN_MAX))
        #else
        let target = limits.rlim_max
        #endif
        if limits.rlim_cur < target {
            var raised = limits
            raised.rlim_cur = target
            if setrlimit(resource, &raised) == 0 { limits = raised }
        }
        // RLIM_INFINITY reads as a huge number; any bound of ours is far below it.
        return limits.rlim_cur >= rlim_t(Int.max) ? Int.max : Int(limits.rlim_cur)
    }
}
