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

extension HoldBody: FastBody {
    static func read(_ reader: inout JSONReader) throws(JSONReader.Mismatch) -> HoldBody {
        var lines: [Line]?, fulfilment: FulfilmentBody?, ttlSeconds: Int64?, allowPartial: Bool?, reference: String?
        try reader.beginObject()
        var first = true
        while let key = try reader.nextKey(first: &first) {
            switch key {
            case "lines": lines = try readLines(&reader)
            case "fulfilment": fulfilment = try FulfilmentBody.read(&reader)
            case "ttlSeconds": ttlSeconds = try reader.int64()
            case "allowPartial": allowPartial = try reader.bool()
            case "reference": reference = try reader.string()
            default: throw JSONReader.Mismatch()
            }
        }
        guard let lines else { throw JSONReader.Mismatch() }
        return HoldBody(lines: lines, fulfilment: fulfilment, ttlSeconds: ttlSeconds, allowPartial: allowPartial, reference: reference)
    }

    /// The lines of a hold or an order body.
    static func readLines(_ reader: inout JSONReader) throws(JSONReader.Mismatch) -> [Line] {
        var lines: [Line] = []
        try reader.beginArray()
        var firstLine = true
        while try reader.nextElement(first: &firstLine) {
            var sku: String?, quantity: Int64?, locationId: String?
            try reader.beginObject()
            var first = true
            while let key = try reader.nextKey(first: &first) {
                switch key {
                case "sku": sku = try reader.string()
                case "quantity": quantity = try reader.int64()
                case "locationId": locationId = try reader.string()
                default: throw JSONReader.Mismatch()
                }
            }
            guard let sku, let quantity else { throw JSONReader.Mismatch() }
            lines.append(Line(sku: sku, quantity: quantity, locationId: locationId))
        }
        return lines
    }

    /// Keys sorted, absent values left out, as `JSON.encoder` writes them; a shipping address
    /// (numbers with fractions) is left to the encoder.
    func canonicalJSON() -> [UInt8]? {
        guard fulfilment?.address == nil else { return nil }
        var writer = JSONWriter(capacity: 128 + 96 * lines.count)
        writer.beginObject()
        if let allowPartial { writer.key("allowPartial"); writer.bool(allowPartial) }
        if let fulfilment { writer.key("fulfilment"); fulfilment.writeCanonical(into: &writer) }
        writer.key("lines"); Self.writeCanonical(lines, into: &writer)
        if let reference { writer.key("reference"); writer.string(reference) }
        if let ttlSeconds { writer.key("ttlSeconds"); writer.integer(ttlSeconds) }
        writer.endObject()
        return writer.bytes
    }
}

extension HoldBody {
    /// Lines in their canonical form (keys sorted, absent values left out).
    static func writeCanonical(_ lines: [Line], into writer: inout JSONWriter) {
        writer.beginArray()
        for line in lines {
            writer.beginObject()
            if let locationId = line.locationId { writer.key("locationId"); writer.string(locationId) }
            writer.key("quantity"); writer.integer(line.quantity)
            writer.key("sku"); writer.string(line.sku)
            writer.endObject()
        }
        writer.endArray()
    }
}

extension HoldBody.FulfilmentBody {
    /// The canonical form of a fulfilment without an address (its callers leave an address,
    /// numbers with fractions, to the encoder).
    func writeCanonical(into writer: inout JSONWriter) {
        precondition(address == nil, "an address is written by the encoder")
        writer.beginObject()
        if let locationId { writer.key("locationId"); writer.string(locationId) }
        writer.key("type"); writer.string(type)
        writer.endObject()
    }

    static func read(_ reader: inout JSONReader) throws(JSONReader.Mismatch) -> Self {
        var type: String?, locationId: String?, address: Address?
        try reader.beginObject()
        var first = true
        while let key = try reader.nextKey(first: &first) {
            switch key {
            case "type": type = try reader.string()
            case "locationId": locationId = try reader.string()
            case "address":
                var latitude: Double?, longitude: Double?
                try reader.beginObject()
                var firstMember = true
                while let member = try reader.nextKey(first: &firstMember) {
                    switch member {
                    case "latitude": latitude = try reader.double()
                    case "longitude": longitude = try reader.double()
                    default: throw JSONReader.Mismatch()
                    }
                }
                guard let latitude, let longitude else { throw JSONReader.Mismatch() }
                address = Address(latitude: latitude, longitude: longitude)
            default: throw JSONReader.Mismatch()
            }
        }
        guard let type else { throw JSONReader.Mismatch() }
        return Self(type: type, locationId: locationId, address: address)
    }
}
