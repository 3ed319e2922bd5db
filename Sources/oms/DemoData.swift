import Foundation
import Logging
import OmnistockCore
import OmnistockStore

/// A small, realistic estate: four Paris stores and a warehouse north of the city.
enum DemoData {
    static let locations: [Location] = [
        Location(
            id: "PAR-01", name: "Paris Rivoli", kind: .store, latitude: 48.8606, longitude: 2.3376,
            capabilities: .init(pickup: true, ships: true), dailyCapacity: 200, priority: 1, pickupWindowDays: 7, active: true),
        Location(
            id: "PAR-02", name: "Paris Opéra", kind: .store, latitude: 48.8719, longitude: 2.3316,
            capabilities: .init(pickup: true, ships: true), dailyCapacity: 150, priority: 2, pickupWindowDays: 7, active: true),
        Location(
            id: "PAR-03", name: "Paris Bastille", kind: .store, latitude: 48.8532, longitude: 2.3692,
            capabilities: .init(pickup: true, ships: false), dailyCapacity: 80, priority: 3, pickupWindowDays: 5, active: true),
        Location(
            id: "PAR-04", name: "La Défense", kind: .store, latitude: 48.8918, longitude: 2.2383,
            capabilities: .init(pickup: true, ships: false), dailyCapacity: 120, priority: 3, pickupWindowDays: 7, active: true),
        Location(
            id: "WH-01", name: "Gennevilliers warehouse", kind: .warehouse, latitude: 48.9335, longitude: 2.2931,
            capabilities: .init(pickup: false, ships: true), dailyCapacity: 5000, priority: 0, pickupWindowDays: 7, active: true),
    ]

    /// Opening stock: a few SKUs spread over the estate, so availability has something to show.
    static let openingStock: [MovementLine] = {
        let skus = ["JACKET-M", "JACKET-L", "BOOT-42", "BOOT-43", "TEE-WHITE-S", "CAP-NAVY"]
        let quantities: [String: [Int64]] = [
            "PAR-01": [6, 4, 2, 0, 12, 5], "PAR-02": [3, 3, 0, 1, 8, 0], "PAR-03": [0, 2, 1, 1, 6, 3],
            "PAR-04": [2, 0, 0, 2, 10, 4], "WH-01": [40, 35, 24, 30, 200, 60],
        ]
        return quantities.keys.sorted().flatMap { location in
            zip(skus, quantities[location]!).filter { $0.1 > 0 }.map { sku, quantity in
                MovementLine(sku: sku, locationId: location, kind: .receipt, quantity: quantity, reason: "opening", reference: "demo")
            }
        }
    }()

    /// Defines the demo locations (a no-op when they are already so) and returns a demo admin
    /// key, reusing the one saved in the data folder while it still works.
    static func load(stores: Stores, database: Database, dataDirectory: String, logger: Logger) async throws -> String {
        let metadata = EventMetadata(actor: "demo")
        for location in locations {
            _ = try await stores.locations.define(location, metadata: metadata, on: database)
        }
        // Opening stock once: a later start finds it and adds nothing.
        if try await stores.stock.position(StockKey(sku: "JACKET-M", locationId: "WH-01"), on: database) == nil {
            _ = try await database.transaction { connection in
                try await stores.stock.move(openingStock, metadata: metadata, in: Transaction(connection))
            }
        }
        let keyFile = URL(fileURLWithPath: dataDirectory).appendingPathComponent("demo-admin-key")
        if let saved = try? String(contentsOf: keyFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines),
            let principal = try await stores.apiKeys.authenticate(token: saved, on: database), principal.role == .admin
        {
            return saved
        }
        guard case .success(let spec) = ApiKeySpec.validate(name: "demo admin", role: .admin, locations: nil) else {
            preconditionFailure("the demo key spec is valid")
        }
        let (_, token) = try await stores.apiKeys.create(spec, createdBy: "demo", on: database)
        try FileManager.default.createDirectory(at: keyFile.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data((token + "\n").utf8).write(to: keyFile)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: keyFile.path)
        logger.info("demo data loaded", metadata: ["locations": "\(locations.count)", "keyFile": "\(keyFile.path)"])
        return token
    }
}
