import Foundation
import Logging
import OmnistockCore

/// A PostgreSQL cluster that Omnistock creates and runs itself in a local data folder.
///
/// Used when no DATABASE_URL is given, so the service starts on a fresh machine with one command,
/// and by the tests for a throwaway cluster. The server binaries come from the PostgreSQL server
/// package (found on PATH or under /usr/lib/postgresql/*/bin). PostgreSQL refuses to run as root,
/// so when we are root the server runs as the unprivileged `postgres` user (created if missing)
/// and the cluster folder belongs to it. The server listens on 127.0.0.1 only, on a free port,
/// with password authentication; the generated password stays in the data folder (mode 0600).
///
/// If a server from an earlier start is still running on the folder (another `oms serve`, or a
/// crash), it is reused and left running on stop: only the process that started it stops it.
public final class EmbeddedPostgres: Sendable {
    public let dataDirectory: URL
    public let settings: DatabaseSettings
    /// Whether this process started the server (and so must stop it).
    public let startedHere: Bool
    let binaries: URL
    let logger: Logger

    static let superuser = "omnistock"
    static let databaseName = "omnistock"

    var clusterDirectory: URL { dataDirectory.appendingPathComponent("pgdata") }

    private init(dataDirectory: URL, settings: DatabaseSettings, startedHere: Bool, binaries: URL, logger: Logger) {
        self.dataDirectory = dataDirectory
        self.settings = settings
        self.startedHere = startedHere
        self.binaries = binaries
        self.logger = logger
    }

    /// Creates the cluster if needed and starts it, or attaches to the one already running there.
    /// `connectionsMax` is the server's max_connections: the test suite, hundreds of tests at once
    /// each with a pool of its own, asks for more than an instance needs.
    public static func start(
        dataDirectory path: String, port requestedPort: Int? = nil, connectionsMax: Int = Limits.embeddedConnectionsMax, logger: Logger
    ) throws(StoreError) -> EmbeddedPostgres {
        let dataDirectory = URL(fileURLWithPath: path, isDirectory: true).standardizedFileURL
        let cluster = dataDirectory.appendingPathComponent("pgdata")
        // A cluster is started by the major version that made it (PG_VERSION), not the newest.
        let clusterVersion = (try? String(contentsOf: cluster.appendingPathComponent("PG_VERSION"), encoding: .utf8))
            .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        let binaries = try findBinaries(preferring: clusterVersion)
        let passwordFile = dataDirectory.appendingPathComponent("postgres-password")
        let runAs = try serverUser()
        try prepareDataDirectory(dataDirectory, runAs: runAs)
        if !FileManager.default.fileExists(atPath: cluster.appendingPathComponent("PG_VERSION").path) {
            try createCluster(cluster, in: dataDirectory, passwordFile: passwordFile, binaries: binaries, runAs: runAs, logger: logger)
        }
        guard let password = try? String(contentsOf: passwordFile, encoding: .utf8) else {
            throw .embeddedServer("the password file \(passwordFile.path) is missing; remove \(cluster.path) to start afresh")
        }
        if let running = runningPort(cluster: cluster) {
            logger.info("attaching to the embedded PostgreSQL already running", metadata: ["port": "\(running)"])
            let settings = DatabaseSettings(host: "127.0.0.1", port: running, username: superuser, password: password, database: databaseName)
            let server = EmbeddedPostgres(dataDirectory: dataDirectory, settings: settings, startedHere: false, binaries: binaries, logger: logger)
            // A crash between start and createdb would otherwise leave a cluster without it.
            try server.createDatabase(databaseName)
            return server
        }
        let port = try startServer(
            cluster, in: dataDirectory, port: requestedPort, connectionsMax: connectionsMax, binaries: binaries, runAs: runAs, logger: logger)
        let settings = DatabaseSettings(host: "127.0.0.1", port: port, username: superuser, password: password, database: databaseName)
        let server = EmbeddedPostgres(dataDirectory: dataDirectory, settings: settings, startedHere: true, binaries: binaries, logger: logger)
        try server.createDatabase(databaseName)
        return server
    }

    /// Creates the data folder when missing, and checks that the server user can enter it.
    private static func prepareDataDirectory(_ dataDirectory: URL, runAs: String?) throws(StoreError) {
        let fileManager = FileManager.default
        do {
            if !fileManager.fileExists(atPath: dataDirectory.path) {
                try fileManager.createDirectory(at: dataDirectory, withIntermediateDirectories: true)
                // The server user must be able to reach its cluster through this folder.
                try fileManager.setAttributes([.posixPermissions: 0o755], ofItemAtPath: dataDirectory.path)
            }
        } catch {
            throw .embeddedServer("cannot create the data folder \(dataDirectory.path): \(error.localizedDescription)")
        }
        guard let runAs else { return }
        // Every folder on the way must be enterable by the server user (a checkout under
        // /root, mode 0700, is not).
        let probe = capture(URL(fileURLWithPath: "/usr/sbin/runuser"), ["-u", runAs, "--", "test", "-x", dataDirectory.path])
        if probe.status != 0 {
            throw .embeddedServer(
                "PostgreSQL runs as the user '\(runAs)', which cannot enter \(dataDirectory.path) (a parent folder is private); choose a data folder it can reach, e.g. --data-dir /var/lib/omnistock")
        }
    }

    /// Runs initdb with a fresh random password, kept in `passwordFile` (mode 0600).
    private static func createCluster(
        _ cluster: URL, in dataDirectory: URL, passwordFile: URL, binaries: URL, runAs: String?, logger: Logger
    ) throws(StoreError) {
        let fileManager = FileManager.default
        logger.info("creating the embedded PostgreSQL cluster", metadata: ["path": "\(cluster.path)"])
        let password = ApiKeyStore.randomToken(bytes: 24)
        let pwfile = dataDirectory.appendingPathComponent(".initdb-pw")
        do {
            try? fileManager.removeItem(at: cluster)
            try fileManager.createDirectory(at: cluster, withIntermediateDirectories: true)
            // Secrets are created private, never readable by others even for a moment.
            for file in [pwfile, passwordFile] {
                try? fileManager.removeItem(at: file)
                guard fileManager.createFile(atPath: file.path, contents: Data(password.utf8), attributes: [.posixPermissions: 0o600]) else {
                    throw StoreError.embeddedServer("cannot write \(file.path)")
                }
            }
            if let runAs {
                try chown(cluster.path, runAs)
                try chown(pwfile.path, runAs)
            }
            try fileManager.setAttributes([.posixPermissions: 0o700], ofItemAtPath: cluster.path)
        } catch {
            throw .embeddedServer("cannot prepare \(cluster.path): \(error)")
        }
        defer { try? fileManager.removeItem(at: pwfile) }
        try run(
            binaries.appendingPathComponent("initdb"),
            ["-D", cluster.path, "-U", superuser, "--pwfile=\(pwfile.path)", "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C"],
            as: runAs, what: "initdb")
    }

    /// Starts the server on loopback and returns its port. A free port can be taken by someone
    /// else between our probe and the server's bind: when we chose it, try again with another.
    private static func startServer(
        _ cluster: URL, in dataDirectory: URL, port requestedPort: Int?, connectionsMax: Int, binaries: URL, runAs: String?,
        logger: Logger
    ) throws(StoreError) -> Int {
        let fileManager = FileManager.default
        let logFile = dataDirectory.appendingPathComponent("postgres.log")
        if let runAs {
            if !fileManager.fileExists(atPath: logFile.path) { _ = fileManager.createFile(atPath: logFile.path, contents: nil) }
            try chown(logFile.path, runAs)
        }
        for attempt in 1...Limits.embeddedStartAttemptsMax {
            let port: Int
            if let requestedPort { port = requestedPort } else { port = try freePort() }
            let options = [
                "-c listen_addresses=127.0.0.1", "-p \(port)", "-c unix_socket_directories=''",
                "-c max_connections=\(connectionsMax)", "-c shared_buffers=128MB", "-c jit=off",
            ].joined(separator: " ")
            do {
                try run(
                    binaries.appendingPathComponent("pg_ctl"),
                    ["-D", cluster.path, "-l", logFile.path, "-w", "-t", "60", "-o", options, "start"],
                    as: runAs, what: "pg_ctl start (see \(logFile.path))")
                return port
            } catch where requestedPort == nil && attempt < Limits.embeddedStartAttemptsMax {
                logger.warning("the embedded PostgreSQL did not start; retrying on another port", metadata: ["error": "\(error)"])
            }
        }
        preconditionFailure("the last attempt returns or throws")
    }

    /// Creates a database when missing (the cluster's first start, or a test's own database).
    public func createDatabase(_ name: String) throws(StoreError) {
        precondition(name.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" }, "database names are plain identifiers")
        let createdb = binaries.appendingPathComponent("createdb")
        var environment = ProcessInfo.processInfo.environment
        environment["PGPASSWORD"] = settings.password
        let result = Self.capture(
            createdb, ["-h", settings.host, "-p", "\(settings.port)", "-U", Self.superuser, name], environment: environment)
        if result.status != 0 && !result.output.contains("already exists") {
            throw .embeddedServer("createdb \(name) failed: \(result.output)")
        }
    }

    /// Stops the server if this process started it (a fast shutdown: open sessions are ended).
    public func stop() {
        guard startedHere else { return }
        do {
            try Self.run(
                binaries.appendingPathComponent("pg_ctl"), ["-D", clusterDirectory.path, "-m", "fast", "-w", "stop"],
                as: try Self.serverUser(), what: "pg_ctl stop")
            logger.info("stopped the embedded PostgreSQL")
        } catch {
            logger.error("could not stop the embedded PostgreSQL", metadata: ["error": "\(error)"])
        }
    }

    // MARK: - Helpers

    /// The folder holding initdb, pg_ctl and postgres: PATH first, then the Debian layout.
    static func findBinaries(preferring version: Int? = nil) throws(StoreError) -> URL {
        let fileManager = FileManager.default
        var candidates: [String] = []
        if let version { candidates.append("/usr/lib/postgresql/\(version)/bin") }
        candidates += (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        if let versions = try? fileManager.contentsOfDirectory(atPath: "/usr/lib/postgresql") {
            let sorted = versions.compactMap { Int($0) }.sorted(by: >)
            candidates += sorted.map { "/usr/lib/postgresql/\($0)/bin" }
        }
        for folder in candidates {
            let url = URL(fileURLWithPath: folder)
            let needed = ["initdb", "pg_ctl", "postgres", "createdb"]
            if needed.allSatisfy({ fileManager.isExecutableFile(atPath: url.appendingPathComponent($0).path) }) {
                // Resolve symbolic links (Debian links some of these into PATH) so siblings are found.
                let real = url.appendingPathComponent("pg_ctl").resolvingSymlinksInPath().deletingLastPathComponent()
                if needed.allSatisfy({ fileManager.isExecutableFile(atPath: real.appendingPathComponent($0).path) }) {
                    return real
                }
            }
        }
        throw .embeddedServer(
            "the PostgreSQL server programs (initdb, pg_ctl, postgres) were not found on PATH or in /usr/lib/postgresql/*/bin; install them with `sudo apt-get install postgresql` (Debian/Ubuntu), or set DATABASE_URL to use an existing server"
        )
    }

    /// The user to run the server as: nil when we are not root, else `postgres` (created if missing).
    static func serverUser() throws(StoreError) -> String? {
        guard getuid() == 0 else { return nil }
        if getpwnam("postgres") == nil {
            let result = capture(
                URL(fileURLWithPath: "/usr/sbin/useradd"),
                ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "postgres"])
            if result.status != 0 {
                throw .embeddedServer("PostgreSQL cannot run as root and the user 'postgres' could not be created: \(result.output)")
            }
        }
        return "postgres"
    }

    static func chown(_ path: String, _ user: String) throws(StoreError) {
        guard let entry = getpwnam(user) else { throw .embeddedServer("no user \(user)") }
        if Foundation.chown(path, entry.pointee.pw_uid, entry.pointee.pw_gid) != 0 {
            throw .embeddedServer("cannot give \(path) to \(user): errno \(errno)")
        }
    }

    /// The port of a live server on this cluster, read from postmaster.pid, or nil.
    static func runningPort(cluster: URL) -> Int? {
        guard let text = try? String(contentsOf: cluster.appendingPathComponent("postmaster.pid"), encoding: .utf8) else {
            return nil
        }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count >= 4, let pid = Int32(lines[0]), let port = Int(lines[3]) else { return nil }
        // A stale file after a crash names a dead process, or a pid reused by another program
        // (containers reuse small pids): only a live process named postgres counts.
        guard kill(pid, 0) == 0 || errno == EPERM else { return nil }
        guard let name = try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8),
            name.hasPrefix("postgres")
        else { return nil }
        return port
    }

    /// A TCP port on 127.0.0.1 that nothing listens on right now.
    static func freePort() throws(StoreError) -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw .embeddedServer("cannot open a socket to find a free port") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bind(fd, socketAddress, length) == 0 && getsockname(fd, socketAddress, &length) == 0
            }
        }
        guard bound else { throw .embeddedServer("cannot bind a socket to find a free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    static func run(_ program: URL, _ arguments: [String], as user: String?, what: String) throws(StoreError) {
        let result: (status: Int32, output: String)
        if let user {
            result = capture(URL(fileURLWithPath: "/usr/sbin/runuser"), ["-u", user, "--", program.path] + arguments)
        } else {
            result = capture(program, arguments)
        }
        if result.status != 0 {
            throw .embeddedServer("\(what) failed (exit \(result.status)): \(result.output.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }

    /// Runs a program to completion and returns its exit status and combined output.
    ///
    /// Uses posix_spawn and waitpid directly: Foundation's Process can miss the exit of a child
    /// whose own children (the postmaster that pg_ctl starts) live on. Output goes through a
    /// temporary file rather than a pipe for the same reason: the server must not hold our pipe.
    static func capture(_ program: URL, _ arguments: [String], environment: [String: String]? = nil) -> (status: Int32, output: String) {
        let outputPath = FileManager.default.temporaryDirectory
            .appendingPathComponent("oms-\(getpid())-\(UInt64.random(in: 0 ... .max)).out").path
        defer { unlink(outputPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Start from "/" through the shell: runuser keeps the working directory, which the server
        // user may not be able to enter, and glibc's posix_spawn chdir action is not exported.
        let shell = "/bin/sh"
        let argv = ([shell, "-c", "cd / && exec \"$0\" \"$@\"", program.path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let env = (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { env.forEach { free($0) } }
        // The postmaster that pg_ctl starts lives on, detached: it must not inherit our sockets
        // or pipes. glibc's closefrom spawn action is not exported to Swift, so mark every open
        // descriptor above stderr close-on-exec instead (this process never hands any down).
        if let descriptors = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
            for case let fd? in descriptors.map({ Int32($0) }) where fd > 2 {
                let flags = fcntl(fd, F_GETFD)
                if flags >= 0 { _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC) }
            }
        }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, shell, &actions, nil, argv, env)
        guard spawned == 0 else {
            return (127, "cannot run \(program.path): \(String(cString: strerror(spawned)))")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        // WIFEXITED / WEXITSTATUS, spelled out: Glibc's macros are not imported into Swift.
        let exited = status & 0x7F == 0
        return (exited ? (status >> 8) & 0xFF : 128 + (status & 0x7F), output)
    }
}
