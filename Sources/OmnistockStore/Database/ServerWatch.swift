import Logging
import PostgresNIO
import Synchronization

/// Which PostgreSQL server answers behind `DATABASE_URL`, as far as the server itself tells: its
/// address and port (behind HAProxy, the member's own), when its postmaster started, and the
/// timeline of its WAL, which every promotion of a standby increases.
public struct ServerIdentity: Sendable, Equatable, CustomStringConvertible {
    public var address: String
    public var port: Int
    public var startedMs: Int64
    public var timeline: Int64

    public init(address: String, port: Int, startedMs: Int64, timeline: Int64) {
        self.address = address
        self.port = port
        self.startedMs = startedMs
        self.timeline = timeline
    }

    public var description: String { "\(address):\(port) (timeline \(timeline))" }
}

/// What one look at the server found.
public enum ServerProbe: Sendable, Equatable {
    /// A primary: it takes writes.
    case primary(ServerIdentity)
    /// A standby (read-only): a failover is under way, or the address leads to the wrong member.
    case standby
    /// Nothing answered within the acquire bound.
    case unreachable
}

/// A change of the server that answers, as `DatabaseWatch` tells it.
public enum ServerChange: Sendable, Equatable {
    /// Another server, or the same one promoted onto a new timeline: a failover or switchover.
    case failover(from: ServerIdentity, to: ServerIdentity)
    /// The same server started again (a crash recovery or a restart in place).
    case restart(ServerIdentity)
}

/// Remembers the primary last seen and counts its changes, for `/metrics` and the log.
///
/// A state machine fed by probes: a standby or no answer leaves the primary last seen as it
/// is, so that primary A, nothing, standby, primary B counts one failover, whatever was seen in
/// between.
public final class DatabaseWatch: Sendable {
    public struct Counts: Sendable, Equatable {
        public var failovers = 0
        public var restarts = 0
        /// Probes that found a standby behind the address.
        public var standbys = 0
    }

    private struct State {
        var last: ServerIdentity?
        var counts = Counts()
    }

    private let state = Mutex(State())

    public init() {}

    public var counts: Counts { state.withLock { $0.counts } }

    /// The primary last seen, if any.
    public var lastPrimary: ServerIdentity? { state.withLock { $0.last } }

    /// Takes in one probe; the change it shows, if any.
    @discardableResult
    public func observe(_ probe: ServerProbe) -> ServerChange? {
        state.withLock { state in
            switch probe {
            case .unreachable:
                return nil
            case .standby:
                state.counts.standbys += 1
                return nil
            case .primary(let identity):
                defer { state.last = identity }
                guard let last = state.last, last != identity else { return nil }
                if last.address != identity.address || last.port != identity.port || last.timeline != identity.timeline {
                    state.counts.failovers += 1
                    return .failover(from: last, to: identity)
                }
                state.counts.restarts += 1
                return .restart(identity)
            }
        }
    }
}

extension Database {
    /// Looks at the server behind the pool once (bounded by the acquire bound) and tells the
    /// watch; logs a change of primary.
    @discardableResult
    public func probe() async -> ServerProbe {
        let probe: ServerProbe
        do {
            probe = try await withConnection { connection in try await Self.identify(on: connection, logger: self.logger) }
        } catch {
            probe = .unreachable
        }
        switch watch.observe(probe) {
        case .failover(let from, let to):
            logger.notice("the database primary changed: a failover or switchover", metadata: ["from": "\(from)", "to": "\(to)"])
        case .restart(let identity):
            logger.notice("the database primary restarted", metadata: ["server": "\(identity)"])
        case nil:
            break
        }
        return probe
    }

    /// The server's role and identity. `pg_walfile_name` of the current WAL position begins
    /// with the timeline in hexadecimal (and is refused on a standby, which is told first).
    static func identify(on connection: PostgresConnection, logger: Logger) async throws -> ServerProbe {
        // One statement: CASE evaluates only the branch it picks, so a standby is never asked
        // for its WAL position.
        let rows = try await connection.query(
            """
            SELECT pg_is_in_recovery(), coalesce(host(inet_server_addr()), 'local'), coalesce(inet_server_port(), 0),
                   (extract(epoch FROM pg_postmaster_start_time()) * 1000)::bigint,
                   CASE WHEN pg_is_in_recovery() THEN '' ELSE substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) END
            """, logger: logger
        ).decode((Bool, String, Int, Int64, String).self)
        for try await (inRecovery, address, port, startedMs, timelineHex) in rows {
            if inRecovery { return .standby }
            guard let timeline = Int64(timelineHex, radix: 16) else {
                throw StoreError.corrupt("the server's WAL file name does not begin with a timeline: \(timelineHex)")
            }
            return .primary(ServerIdentity(address: address, port: port, startedMs: startedMs, timeline: timeline))
        }
        throw StoreError.corrupt("the server's identity could not be read")
    }
}
