import Foundation
import HTTPTypes
import Hummingbird
import OmnistockCore
import OmnistockStore

/// Checkout holds over HTTP: place, read, extend, release. Writes go through the instance's
/// single hold writer, which decides many requests per transaction.
struct HoldRoutes {
    let services: EdgeServices

    func register(on group: RouterGroup<OmsContext>) {
        group.post("holds") { request, context in
            let principal = try context.caller()
            let body = try await JSON.decode(HoldBody.self, from: request, context: context)
            let holdRequest = try body.value.request()
            _ = try context.authorize(.holdStock, locations: holdRequest.namedLocations.filter(Identifier.isValid))
            // Faults that need no stock are answered here, before the request takes a place
            // in the writer's queue.
            let faults = Holds.validate(holdRequest)
            if !faults.isEmpty { throw Rejections(faults) }
            let outcome = try await services.holdWriter.submit(
                .place(holdRequest, holdId: HoldIds.make(), scope: principal.scope),
                metadata: services.metadata(principal, context: context, request: request),
                idempotency: try services.idempotencyRequest(request, principal: principal, body: body.canonical),
                render: { record, nowMs in StoredResponse(status: 201, body: HoldJSON.render(record.hold, nowMs: nowMs)) })
            return Self.respond(outcome, status: .created)
        }
        group.get("holds/{holdId}") { request, context in
            let id = try request.identifier("holdId", context: context)
            let found = try await authorizedHold(id, context: context)
            return JSON.response(bytes: HoldJSON.render(found.record.hold, nowMs: found.nowMs), status: .ok)
        }
        group.post("holds/{holdId}/extend") { request, context in
            let id = try request.identifier("holdId", context: context)
            let principal = try context.caller()
            let body = try await JSON.decode(ExtendBody.self, from: request, context: context)
            let found = try await authorizedHold(id, context: context)
            let outcome = try await services.holdWriter.submit(
                .extend(holdId: id, ttlSeconds: body.value.ttlSeconds, positions: found.record.hold.keys),
                metadata: services.metadata(principal, context: context, request: request),
                idempotency: try services.idempotencyRequest(request, principal: principal, body: body.canonical),
                render: { record, nowMs in StoredResponse(status: 200, body: HoldJSON.render(record.hold, nowMs: nowMs)) })
            return Self.respond(outcome, status: .ok)
        }
        group.delete("holds/{holdId}") { request, context in
            let id = try request.identifier("holdId", context: context)
            let principal = try context.caller()
            let found = try await authorizedHold(id, context: context)
            // DELETE is idempotent by itself: releasing a hold that already ended changes nothing.
            // The hold's positions are passed along: the writer need not read them again.
            let outcome = try await services.holdWriter.submit(
                .release(holdId: id, positions: found.record.hold.keys), metadata: services.metadata(principal, context: context, request: request))
            return Self.respond(outcome, status: .ok)
        }
    }

    /// The hold, when it exists and the caller may act on every location it holds stock at.
    private func authorizedHold(_ id: String, context: OmsContext) async throws -> (record: HoldRecord, nowMs: Int64) {
        _ = try context.authorize(.holdStock)
        guard let found = try await services.holds.get(id: id, on: services.database) else {
            throw Problem(Rejection.unknownHold(holdId: id), inBody: false)
        }
        // The hold's own rule, as every writer applies it (its pickup store counts too).
        let principal = try context.authorize(.holdStock)
        if let refusal = Access.authorize(principal, .holdStock, hold: found.record.hold) { throw Problem(refusal) }
        return found
    }

    static func respond(_ outcome: HoldOutcome, status: HTTPResponse.Status) -> Response {
        switch outcome {
        case .done(let record?, let nowMs, _):
            return JSON.response(bytes: HoldJSON.render(record.hold, nowMs: nowMs), status: status)
        case .done(nil, _, _):
            preconditionFailure("hold routes submit commands that answer with a hold")
        case .replayed(let stored):
            var response = JSON.response(bytes: stored.body, status: .init(code: stored.status))
            response.headers[.idempotentReplayed] = "true"
            return response
        }
    }
}

/// Hold ids: 128 random bits from the system's secure generator, so ids cannot be guessed
/// and two instances never collide.
enum HoldIds {
    static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        let high = generator.next() as UInt64
        let low = generator.next() as UInt64
        return "hld_" + hex(high) + hex(low)
    }

    private static func hex(_ value: UInt64) -> String {
        let text = String(value, radix: 16)
        return String(repeating: "0", count: 16 - text.count) + text
    }
}

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

/// A hold as JSON, written by hand: it is the answer of the hot path, and Foundation's encoder
/// costs more than the rest of the answer (same document as the encoder would write, keys sorted).
enum HoldJSON {
    static func render(_ hold: Hold, nowMs: Int64) -> [UInt8] {
        var writer = JSONWriter(capacity: 320 + 96 * hold.lines.count)
        writer.beginObject()
        writer.key("allowPartial"); writer.bool(hold.allowPartial)
        if let ended = hold.endedAt(atMs: nowMs) { writer.key("endedAt"); writer.string(Timestamp.iso(ended)) }
        writer.key("expiresAt"); writer.string(Timestamp.iso(hold.expiresAtMs))
        switch hold.fulfilment {
        case .pickup(let locationId)?:
            writer.key("fulfilment")
            writer.beginObject()
            writer.key("locationId"); writer.string(locationId)
            writer.key("type"); writer.string("pickup")
            writer.endObject()
        case .ship(let latitude, let longitude)?:
            writer.key("fulfilment")
            writer.beginObject()
            writer.key("address")
            writer.beginObject()
            writer.key("latitude"); writer.number(latitude)
            writer.key("longitude"); writer.number(longitude)
            writer.endObject()
            writer.key("type"); writer.string("ship")
            writer.endObject()
        case nil:
            break
        }
        writer.key("id"); writer.string(hold.id)
        writer.key("lines")
        writer.beginArray()
        for line in hold.lines {
            writer.beginObject()
            writer.key("id"); writer.string(line.id)
            writer.key("locationId"); writer.string(line.locationId)
            writer.key("quantity"); writer.integer(line.quantity)
            writer.key("sku"); writer.string(line.sku)
            writer.endObject()
        }
        writer.endArray()
        writer.key("placedAt"); writer.string(Timestamp.iso(hold.placedAtMs))
        if let reference = hold.reference { writer.key("reference"); writer.string(reference) }
        writer.key("status"); writer.string(hold.status(atMs: nowMs).rawValue)
        writer.key("unfilled")
        writer.beginArray()
        for line in hold.unfilled {
            writer.beginObject()
            writer.key("available"); writer.integer(line.available)
            writer.key("line"); writer.integer(Int64(line.line))
            if let locationId = line.locationId { writer.key("locationId"); writer.string(locationId) }
            writer.key("requested"); writer.integer(line.requested)
            writer.key("sku"); writer.string(line.sku)
            writer.endObject()
        }
        writer.endArray()
        writer.endObject()
        return writer.bytes
    }
}

extension Timestamp {
    /// RFC 3339 UTC with milliseconds (`2026-11-23T08:00:00.000Z`), the form the JSON encoder
    /// writes, computed without a formatter (days-from-civil in reverse, proleptic Gregorian).
    static func iso(_ milliseconds: Int64) -> String {
        let (seconds, millis) = milliseconds.quotientAndRemainder(dividingBy: 1000)
        let adjustedSeconds = millis < 0 ? seconds - 1 : seconds
        let ms = millis < 0 ? millis + 1000 : millis
        var days = adjustedSeconds / 86_400
        var secondOfDay = adjustedSeconds % 86_400
        if secondOfDay < 0 {
            secondOfDay += 86_400
            days -= 1
        }
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthPrime = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthPrime + 2) / 5 + 1
        let month = monthPrime < 10 ? monthPrime + 3 : monthPrime - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(24)
        func digits(_ value: Int64, _ width: Int) {
            var divisor: Int64 = 1
            for _ in 1..<width { divisor *= 10 }
            var rest = value
            while divisor > 0 {
                bytes.append(UInt8(ascii: "0") + UInt8(rest / divisor))
                rest %= divisor
                divisor /= 10
            }
        }
        digits(year, 4); bytes.append(UInt8(ascii: "-"))
        digits(month, 2); bytes.append(UInt8(ascii: "-"))
        digits(day, 2); bytes.append(UInt8(ascii: "T"))
        digits(secondOfDay / 3600, 2); bytes.append(UInt8(ascii: ":"))
        digits(secondOfDay / 60 % 60, 2); bytes.append(UInt8(ascii: ":"))
        digits(secondOfDay % 60, 2); bytes.append(UInt8(ascii: "."))
        digits(ms, 3); bytes.append(UInt8(ascii: "Z"))
        return String(decoding: bytes, as: UTF8.self)
    }
}
