import Configuration
import Foundation
import OmnistockCore
import OmnistockHTTP
import OmnistockWorkers

/// Every setting of `oms`, read once: command-line flags first, then environment variables,
/// then defaults. Environment names follow the keys (`oms.http.port` is `OMS_HTTP_PORT`).
struct Settings: Sendable {
    var databaseURL: String?
    var dataDirectory: String
    var embeddedPostgresPort: Int?
    var host: String
    var port: Int
    var migrateOnStart: Bool
    var poolSize: Int
    var idempotencyRetentionSeconds: Int64
    var authCacheSeconds: Double
    /// Connection timeouts of `oms serve`.
    var connectionTimeouts: ConnectionTimeouts
    /// Open HTTP connections at most, and whether the operator chose it (a chosen limit that
    /// does not fit the descriptor limit stops `oms serve`; the default is lowered to fit).
    var connectionLimit: Int
    var connectionLimitChosen: Bool
    /// Open Server-Sent Event streams in all and per key, and one stream's queue of messages.
    var streams: StreamLimits
    /// Webhook delivery: whether this instance delivers (an instance may serve the API only),
    /// private targets, the retry schedule and the lease.
    var webhookDelivery: Bool
    var webhooks: WebhookSettings
    /// How soon after its order a pickup is promised ready (orders' `readyBy`).
    var pickupPromiseSeconds: Int64
    /// How long a customer's tracking link works after its order ended.
    var trackingValidAfterEndSeconds: Int64
    var logLevel: String
    var logFormat: String
    var demo: Bool

    static let poolSizeMax = 100
    static let authCacheSecondsMax = 300.0

    /// Resolves settings from flags (given as key → value) over the process environment.
    static func resolve(flags: [String: String], environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Settings {
        let flagValues = Dictionary(uniqueKeysWithValues: flags.map { key, value in
            (AbsoluteConfigKey(ConfigKey(stringLiteral: key)), ConfigValue(.string(value), isSecret: key == "database.url"))
        })
        let config = ConfigReader(providers: [
            InMemoryProvider(name: "flags", values: flagValues),
            EnvironmentVariablesProvider(environmentVariables: environment, secretsSpecifier: .specific(["DATABASE_URL"])),
        ])
        func integer(_ key: ConfigKey, default value: Int, range: ClosedRange<Int>) throws -> Int {
            guard let text = config.string(forKey: key) else { return value }
            guard let parsed = Int(text), range.contains(parsed) else {
                throw ValidationFailure("\(key) must be an integer from \(range.lowerBound) to \(range.upperBound), not '\(text)'")
            }
            return parsed
        }
        func int64(_ key: ConfigKey, default value: Int64, range: ClosedRange<Int64>) throws -> Int64 {
            Int64(try integer(key, default: Int(value), range: Int(range.lowerBound)...Int(range.upperBound)))
        }
        func boolean(_ key: ConfigKey, default value: Bool) throws -> Bool {
            guard let text = config.string(forKey: key)?.lowercased() else { return value }
            switch text {
            case "1", "true", "yes", "on": return true
            case "0", "false", "no", "off": return false
            default: throw ValidationFailure("\(key) must be true or false, not '\(text)'")
            }
        }
        let (logLevel, logFormat) = try logOptions(config)
        let databaseURL = config.string(forKey: "database.url", isSecret: true).flatMap { $0.isEmpty ? nil : $0 }
        let embeddedPort = try integer("oms.embedded.postgres.port", default: 0, range: 0...65535)
        func seconds(_ key: ConfigKey, default value: Int, max: Int) throws -> Int {
            try integer(key, default: value, range: Limits.httpTimeoutSecondsMin...max)
        }
        let timeouts = ConnectionTimeouts(
            idleSeconds: try seconds("oms.http.idle.timeout.seconds", default: Limits.httpIdleTimeoutSecondsDefault, max: Limits.httpIdleTimeoutSecondsMax),
            headerSeconds: try seconds(
                "oms.http.header.timeout.seconds", default: Limits.httpHeaderTimeoutSecondsDefault, max: Limits.httpHeaderTimeoutSecondsMax),
            bodySeconds: try seconds("oms.http.body.timeout.seconds", default: Limits.httpBodyTimeoutSecondsDefault, max: Limits.httpBodyTimeoutSecondsMax))
        let connectionLimit = try integer(
            "oms.http.connection.limit", default: Limits.httpConnectionLimitDefault,
            range: Limits.httpConnectionLimitMin...Limits.httpConnectionLimitMax)
        let streams = try streamLimits { try integer($0, default: $1, range: $2) }
        let webhooks = try webhookSettings(
            config, integer: { try integer($0, default: $1, range: $2) }, boolean: { try boolean($0, default: $1) })
        return Settings(
            databaseURL: databaseURL,
            dataDirectory: config.string(forKey: "oms.data.dir", default: ".omnistock"),
            embeddedPostgresPort: embeddedPort == 0 ? nil : embeddedPort,
            host: config.string(forKey: "oms.http.host", default: "127.0.0.1"),
            port: try integer("oms.http.port", default: 8080, range: 0...65535),
            migrateOnStart: try boolean("oms.migrate", default: true),
            poolSize: try integer("oms.db.pool.size", default: 16, range: 2...poolSizeMax),
            idempotencyRetentionSeconds: try int64(
                "oms.idempotency.retention.seconds", default: Limits.idempotencyRetentionSecondsDefault,
                range: Limits.idempotencyRetentionSecondsMin...Limits.idempotencyRetentionSecondsMax),
            authCacheSeconds: Double(try integer("oms.auth.cache.seconds", default: 5, range: 0...Int(authCacheSecondsMax))),
            connectionTimeouts: timeouts,
            connectionLimit: connectionLimit,
            connectionLimitChosen: config.string(forKey: "oms.http.connection.limit") != nil,
            streams: streams,
            webhookDelivery: try boolean("oms.webhook.delivery", default: true),
            webhooks: webhooks,
            pickupPromiseSeconds: try int64(
                "oms.pickup.promise.seconds", default: Limits.pickupPromiseSecondsDefault,
                range: Limits.pickupPromiseSecondsMin...Limits.pickupPromiseSecondsMax),
            trackingValidAfterEndSeconds: try int64(
                "oms.tracking.valid.after.end.seconds", default: Limits.trackingValidAfterEndSecondsDefault,
                range: Limits.trackingValidAfterEndSecondsMin...Limits.trackingValidAfterEndSecondsMax),
            logLevel: logLevel,
            logFormat: logFormat,
            demo: try boolean("oms.demo", default: false)
        )
    }
}

extension Settings {
    /// The log level and format (OMS_LOG_LEVEL, OMS_LOG_FORMAT), checked.
    static func logOptions(_ config: ConfigReader) throws -> (level: String, format: String) {
        let level = config.string(forKey: "oms.log.level", default: "info").lowercased()
        guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(level) else {
            throw ValidationFailure("oms.log.level must be trace, debug, info, notice, warning, error or critical")
        }
        let format = config.string(forKey: "oms.log.format", default: "text").lowercased()
        guard ["text", "json"].contains(format) else { throw ValidationFailure("oms.log.format must be text or json") }
        return (level, format)
    }

    /// The bounds of the instance's streams (OMS_STREAMS_MAX, OMS_STREAMS_PER_KEY_MAX, OMS_STREAM_QUEUE_MESSAGES).
    static func streamLimits(integer: (ConfigKey, Int, ClosedRange<Int>) throws -> Int) throws -> StreamLimits {
        let streamsMax = try integer("oms.streams.max", Limits.streamsPerInstanceDefault, 1...Limits.streamsPerInstanceMax)
        return StreamLimits(
            perInstance: streamsMax,
            perKey: try integer("oms.streams.per.key.max", min(Limits.streamsPerKeyDefault, streamsMax), 1...streamsMax),
            queueMessages: try integer("oms.stream.queue.messages", Limits.streamQueueMessagesDefault, 1...Limits.streamQueueMessagesMax))
    }

    /// How this instance delivers webhooks (OMS_WEBHOOK_ALLOW_PRIVATE_TARGETS,
    /// OMS_WEBHOOK_RETRY_SCHEDULE_SECONDS, OMS_WEBHOOK_LEASE_SECONDS).
    static func webhookSettings(
        _ config: ConfigReader, integer: (ConfigKey, Int, ClosedRange<Int>) throws -> Int, boolean: (ConfigKey, Bool) throws -> Bool
    ) throws -> WebhookSettings {
        let scheduleText = config.string(forKey: "oms.webhook.retry.schedule.seconds")
        guard let schedule = scheduleText.map(RetrySchedule.parse) ?? RetrySchedule.standard else {
            throw ValidationFailure(
                "oms.webhook.retry.schedule.seconds must be 1 to \(Limits.webhookRetriesMax) comma-separated delays of 0 to "
                    + "\(Limits.webhookRetryDelaySecondsMax) seconds, not '\(scheduleText ?? "")'")
        }
        let lease = try integer(
            "oms.webhook.lease.seconds", Int(Limits.webhookLeaseSecondsDefault),
            Int(Limits.webhookLeaseSecondsMin)...Int(Limits.webhookLeaseSecondsMax))
        return WebhookSettings(
            allowPrivateTargets: try boolean("oms.webhook.allow.private.targets", false), schedule: schedule, leaseSeconds: Int64(lease))
    }
}

/// A setting that cannot be used; `oms` prints it and exits non-zero.
struct ValidationFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
