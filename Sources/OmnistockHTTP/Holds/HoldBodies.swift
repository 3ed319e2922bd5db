import OmnistockCore
import OmnistockStore

/// `POST /v1/holds`.
struct HoldBody: Codable, Sendable {
    struct Line: Codable, Sendable {
        var sku: String
        var quantity: Int64
        var locationId: String?
    }
    struct FulfilmentBody: Codable, Sendable {
        struct Address: Codable, Sendable {
            var latitude: Double
            var longitude: Double
        }
        var type: String
        var locationId: String?
        var address: Address?
    }
    var lines: [Line]
    var fulfilment: FulfilmentBody?
    var ttlSeconds: Int64?
    var allowPartial: Bool?
    var reference: String?

    /// The core's request; a fulfilment of the wrong shape is named field by field.
    func request() throws -> HoldRequest {
        let fulfilment = try self.fulfilment?.fulfilment()
        return HoldRequest(
            lines: lines.map { RequestedLine(sku: $0.sku, quantity: $0.quantity, locationId: $0.locationId) },
            fulfilment: fulfilment, ttlSeconds: ttlSeconds ?? Limits.holdTTLSecondsDefault, allowPartial: allowPartial ?? false,
            reference: reference)
    }
}

extension HoldBody.FulfilmentBody {
    /// The core's fulfilment; a fulfilment of the wrong shape is named field by field.
    func fulfilment() throws -> Fulfilment {
        switch (type, locationId, address) {
        case ("pickup", let id?, nil):
            return .pickup(locationId: id)
        case ("ship", nil, let address?):
            return .ship(latitude: address.latitude, longitude: address.longitude)
        case ("pickup", _, _):
            throw Problem(Rejections(locationId == nil
                ? .missingField(field: "fulfilment/locationId")
                : .notAllowed(field: "fulfilment/address", reason: "a pickup names its locationId only")))
        case ("ship", _, _):
            throw Problem(Rejections(address == nil
                ? .missingField(field: "fulfilment/address")
                : .notAllowed(field: "fulfilment/locationId", reason: "shipping names an address; the engine chooses the locations")))
        default:
            throw Problem(Rejections(.outOfRange(field: "fulfilment/type", lower: "'pickup'", upper: "'ship'")))
        }
    }
}

/// `POST /v1/holds/{holdId}/extend`.
struct ExtendBody: Codable, Sendable {
    var ttlSeconds: Int64
}
