import OmnistockCore

/// Orders as JSON, written and read by hand: the `orders` table's documents and the ledger's
/// `order.*` payloads (`OrderRecorded`, which carries the whole order).
///
/// Foundation's JSONEncoder and JSONDecoder were 9.2 % of the whole machine's CPU under the
/// journeys bench (perf record -a -g, 8 s of 64 store journeys at once): about a fifth of the
/// server's own CPU, spent encoding each order twice per step (its document and its event),
/// decoding it from its row and again from the ledger tail. The writers here write exactly
/// what JSONEncoder with sorted keys writes (tests compare them), so a rebuild writes the same
/// text whichever wrote it first. The readers take the shapes the writers write and give up
/// (`JSONReader.Mismatch`) on anything else, an unknown key for one; their callers then fall
/// back to the decoder, which reads or refuses the document exactly as before.
public enum OrderJSON {
    /// An order's document, as JSONEncoder with sorted keys writes it.
    public static func document(_ order: Order) -> String {
        var writer = JSONWriter(capacity: 512 + 192 * order.lines.count)
        writer.order(order)
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    /// An order event's payload, as JSONEncoder with sorted keys writes it.
    public static func payload(_ recorded: OrderRecorded) -> String {
        var writer = JSONWriter(capacity: 640 + 256 * recorded.order.lines.count)
        writer.beginObject()
        writer.key("assigned"); writer.strings(recorded.assigned)
        writer.key("changes"); writer.beginArray()
        for change in recorded.changes {
            writer.beginObject()
            writer.key("allocated"); writer.integer(change.allocated)
            writer.key("held"); writer.integer(change.held)
            writer.key("incoming"); writer.integer(change.incoming)
            writer.key("locationId"); writer.string(change.locationId)
            writer.key("sku"); writer.string(change.sku)
            writer.endObject()
        }
        writer.endArray()
        if let lineId = recorded.lineId { writer.key("lineId"); writer.string(lineId) }
        writer.key("occurredAtMs"); writer.integer(recorded.occurredAtMs)
        writer.key("order"); writer.order(recorded.order)
        if let reason = recorded.reason { writer.key("reason"); writer.string(reason) }
        writer.key("step"); writer.string(recorded.step.rawValue)
        writer.endObject()
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    /// The order of a document, or nil when it is of another shape than `document` writes.
    public static func order(_ text: String) -> Order? {
        JSONReader.read(text) { (reader: inout JSONReader) throws(JSONReader.Mismatch) in try reader.order() }
    }

    /// The step of a payload, or nil when it is of another shape than `payload` writes.
    public static func recorded(_ text: String) -> OrderRecorded? {
        JSONReader.read(text) { (reader: inout JSONReader) throws(JSONReader.Mismatch) in try reader.orderRecorded() }
    }
}

// MARK: - Writing

extension JSONWriter {
    /// An order, its keys sorted.
    public mutating func order(_ order: Order) {
        beginObject()
        if let cancelReason = order.cancelReason { key("cancelReason"); string(cancelReason) }
        key("createdAtMs"); integer(order.createdAtMs)
        if let endedAtMs = order.endedAtMs { key("endedAtMs"); integer(endedAtMs) }
        key("fulfilment"); fulfilment(order.fulfilment)
        if let holdId = order.holdId { key("holdId"); string(holdId) }
        key("id"); string(order.id)
        key("lines"); beginArray()
        for line in order.lines { orderLine(line) }
        endArray()
        key("orderNumber"); string(order.orderNumber)
        if let pickupExpiresAtMs = order.pickupExpiresAtMs { key("pickupExpiresAtMs"); integer(pickupExpiresAtMs) }
        key("pickupLocked"); bool(order.pickupLocked)
        if let readyAtMs = order.readyAtMs { key("readyAtMs"); integer(readyAtMs) }
        if let reference = order.reference { key("reference"); string(reference) }
        key("returns"); beginArray()
        for taken in order.returns {
            beginObject()
            key("lines"); returnLines(taken.lines)
            key("locationId"); string(taken.locationId)
            key("returnedAtMs"); integer(taken.returnedAtMs)
            endObject()
        }
        endArray()
        key("shipments"); beginArray()
        for shipment in order.shipments {
            beginObject()
            key("carrier"); string(shipment.carrier)
            key("lines"); strings(shipment.lines)
            key("shippedAtMs"); integer(shipment.shippedAtMs)
            key("tracking"); string(shipment.tracking)
            endObject()
        }
        endArray()
        key("status"); string(order.status.rawValue)
        key("updatedAtMs"); integer(order.updatedAtMs)
        key("wrongPickupCodes"); integer(Int64(order.wrongPickupCodes))
        endObject()
    }

    mutating func orderLine(_ line: OrderLine) {
        beginObject()
        key("damaged"); integer(line.damaged)
        key("id"); string(line.id)
        key("locationId"); string(line.locationId)
        key("quantity"); integer(line.quantity)
        if let reason = line.reason { key("reason"); string(reason) }
        if let replaces = line.replaces { key("replaces"); string(replaces) }
        key("returned"); integer(line.returned)
        key("sku"); string(line.sku)
        key("status"); string(line.status.rawValue)
        if let transferId = line.transferId { key("transferId"); string(transferId) }
        endObject()
    }

    /// A fulfilment as its `Codable` conformance writes it.
    public mutating func fulfilment(_ fulfilment: Fulfilment) {
        beginObject()
        switch fulfilment {
        case .pickup(let locationId):
            key("locationId"); string(locationId)
            key("type"); string("pickup")
        case .ship(let latitude, let longitude):
            key("address"); beginObject()
            key("latitude"); number(latitude)
            key("longitude"); number(longitude)
            endObject()
            key("type"); string("ship")
        }
        endObject()
    }

    public mutating func returnLines(_ lines: [ReturnLine]) {
        beginArray()
        for line in lines {
            beginObject()
            key("quantity"); integer(line.quantity)
            key("restock"); bool(line.restock)
            key("sku"); string(line.sku)
            endObject()
        }
        endArray()
    }

    public mutating func strings(_ values: [String]) {
        beginArray()
        for value in values { string(value) }
        endArray()
    }
}

// MARK: - Reading

extension JSONReader {
    /// An order written by `JSONWriter.order` (or the encoder, in any key order).
    mutating func order() throws(Mismatch) -> Order {
        var text = OrderText()
        try beginObject()
        var first = true
        while let key = try nextKey(first: &first) { try text.read(key, from: &self) }
        return try text.order()
    }

    mutating func orderRecorded() throws(Mismatch) -> OrderRecorded {
        var step: OrderStep?, order: Order?, changes: [PositionChange]?, assigned: [String]?
        var lineId: String?, reason: String?, occurredAtMs: Int64?
        try beginObject()
        var first = true
        while let key = try nextKey(first: &first) {
            switch key {
            case "step": step = try value(of: OrderStep.self)
            case "order": order = try self.order()
            case "changes": changes = try positionChanges()
            case "assigned": assigned = try strings()
            case "lineId": lineId = null() ? nil : try string()
            case "reason": reason = null() ? nil : try string()
            case "occurredAtMs": occurredAtMs = try int64()
            default: throw Mismatch()
            }
        }
        guard let step, let order, let changes, let assigned, let occurredAtMs else { throw Mismatch() }
        return OrderRecorded(
            step: step, order: order, changes: changes, assigned: assigned, lineId: lineId, reason: reason, occurredAtMs: occurredAtMs)
    }

    /// An array, each element read by `element`.
    mutating func elements<Element>(_ element: (inout JSONReader) throws(Mismatch) -> Element) throws(Mismatch) -> [Element] {
        var elements: [Element] = []
        try beginArray()
        var first = true
        while try nextElement(first: &first) { elements.append(try element(&self)) }
        return elements
    }

    mutating func strings() throws(Mismatch) -> [String] {
        try elements { (reader: inout JSONReader) throws(Mismatch) in try reader.string() }
    }

    mutating func positionChanges() throws(Mismatch) -> [PositionChange] {
        try elements { (reader: inout JSONReader) throws(Mismatch) in try reader.positionChange() }
    }

    mutating func positionChange() throws(Mismatch) -> PositionChange {
        var sku: String?, locationId: String?, held: Int64?, allocated: Int64?, incoming: Int64?
        try beginObject()
        var first = true
        while let key = try nextKey(first: &first) {
            switch key {
            case "sku": sku = try string()
            case "locationId": locationId = try string()
            case "held": held = try int64()
            case "allocated": allocated = try int64()
            case "incoming": incoming = try int64()
            default: throw Mismatch()
            }
        }
        guard let sku, let locationId, let held, let allocated, let incoming else { throw Mismatch() }
        return PositionChange(sku: sku, locationId: locationId, held: held, allocated: allocated, incoming: incoming)
    }

    mutating func orderLine() throws(Mismatch) -> OrderLine {
        var id: String?, sku: String?, quantity: Int64?, locationId: String?, status: OrderLineStatus?
        var transferId: String?, replaces: String?, returned: Int64?, damaged: Int64?, reason: String?
        try beginObject()
        var first = true
        while let key = try nextKey(first: &first) {
            switch key {
            case "id": id = try string()
            case "sku": sku = try string()
            case "quantity": quantity = try int64()
            case "locationId": locationId = try string()
            case "status": status = try value(of: OrderLineStatus.self)
            case "transferId": transferId = null() ? nil : try string()
            case "replaces": replaces = null() ? nil : try string()
            case "returned": returned = try int64()
            case "damaged": damaged = try int64()
            case "reason": reason = null() ? nil : try string()
            default: throw Mismatch()
            }
        }
        guard let id, let sku, let quantity, let locationId, let status, let returned, let damaged else { throw Mismatch() }
        return OrderLine(
            id: id, sku: sku, quantity: quantity, locationId: locationId, status: status, transferId: transferId, replaces: replaces,
            returned: returned, damaged: damaged, reason: reason)
    }

    mutating func fulfilment() throws(Mismatch) -> Fulfilment {
        var type: String?, locationId: String?, latitude: Double?, longitude: Double?
        try beginObject()
        var first = true
        while let key = try nextKey(first: &first) {
            switch key {
            case "type": type = try string()
            case "locationId": locationId = try string()
            case "address":
                try beginObject()
                var firstMember = true
                while let member = try nextKey(first: &firstMember) {
                    switch member {
                    case "latitude": latitude = try double()
                    case "longitude": longitude = try double()
                    default: throw Mismatch()
                    }
                }
            default: throw Mismatch()
            }
        }
        switch (type, locationId, latitude, longitude) {
        case ("pickup"?, let locationId?, nil, nil): return .pickup(locationId: locationId)
        case ("ship"?, nil, let latitude?, let longitude?): return .ship(latitude: latitude, longitude: longitude)
        default: throw Mismatch()
        }
    }

    mutating func shipment() throws(Mismatch) -> Shipment {
        var carrier: String?, tracking: String?, lines: [String]?, shippedAtMs: Int64?
        try beginObject()
        var first = true
        while let key = try nextKey(first: &first) {
            switch key {
            case "carrier": carrier = try string()
            case "tracking": tracking = try string()
            case "lines": lines = try strings()
            case "shippedAtMs": shippedAtMs = try int64()
            default: throw Mismatch()
            }
        }
        guard let carrier, let tracking, let lines, let shippedAtMs else { throw Mismatch() }
        return Shipment(carrier: carrier, tracking: tracking, lines: lines, shippedAtMs: shippedAtMs)
    }

    mutating func orderReturn() throws(Mismatch) -> OrderReturn {
        var locationId: String?, lines: [ReturnLine]?, returnedAtMs: Int64?
        try beginObject()
        var first = true
        while let key = try nextKey(first: &first) {
            switch key {
            case "locationId": locationId = try string()
            case "lines": lines = try elements { (reader: inout JSONReader) throws(Mismatch) in try reader.returnLine() }
            case "returnedAtMs": returnedAtMs = try int64()
            default: throw Mismatch()
            }
        }
        guard let locationId, let lines, let returnedAtMs else { throw Mismatch() }
        return OrderReturn(locationId: locationId, lines: lines, returnedAtMs: returnedAtMs)
    }

    mutating func returnLine() throws(Mismatch) -> ReturnLine {
        var sku: String?, quantity: Int64?, restock: Bool?
        try beginObject()
        var first = true
        while let key = try nextKey(first: &first) {
            switch key {
            case "sku": sku = try string()
            case "quantity": quantity = try int64()
            case "restock": restock = try bool()
            default: throw Mismatch()
            }
        }
        guard let sku, let quantity, let restock else { throw Mismatch() }
        return ReturnLine(sku: sku, quantity: quantity, restock: restock)
    }
}

/// An order's members as they are read, in any order; `order()` checks that every one the
/// decoder requires is there.
private struct OrderText {
    var id: String?, orderNumber: String?, status: OrderStatus?, holdId: String?, reference: String?
    var fulfilment: Fulfilment?, lines: [OrderLine]?, wrongPickupCodes: Int64?, pickupLocked: Bool?
    var createdAtMs: Int64?, updatedAtMs: Int64?, readyAtMs: Int64?, pickupExpiresAtMs: Int64?, endedAtMs: Int64?
    var shipments: [Shipment]?, returns: [OrderReturn]?, cancelReason: String?

    mutating func read(_ key: String, from reader: inout JSONReader) throws(JSONReader.Mismatch) {
        switch key {
        case "id": id = try reader.string()
        case "orderNumber": orderNumber = try reader.string()
        case "status": status = try reader.value(of: OrderStatus.self)
        case "holdId": holdId = reader.null() ? nil : try reader.string()
        case "reference": reference = reader.null() ? nil : try reader.string()
        case "fulfilment": fulfilment = try reader.fulfilment()
        case "lines": lines = try reader.elements { (reader: inout JSONReader) throws(JSONReader.Mismatch) in try reader.orderLine() }
        case "wrongPickupCodes": wrongPickupCodes = try reader.int64()
        case "pickupLocked": pickupLocked = try reader.bool()
        case "createdAtMs": createdAtMs = try reader.int64()
        case "updatedAtMs": updatedAtMs = try reader.int64()
        case "readyAtMs": readyAtMs = reader.null() ? nil : try reader.int64()
        case "pickupExpiresAtMs": pickupExpiresAtMs = reader.null() ? nil : try reader.int64()
        case "endedAtMs": endedAtMs = reader.null() ? nil : try reader.int64()
        case "shipments": shipments = try reader.elements { (reader: inout JSONReader) throws(JSONReader.Mismatch) in try reader.shipment() }
        case "returns": returns = try reader.elements { (reader: inout JSONReader) throws(JSONReader.Mismatch) in try reader.orderReturn() }
        case "cancelReason": cancelReason = reader.null() ? nil : try reader.string()
        default: throw JSONReader.Mismatch()
        }
    }

    func order() throws(JSONReader.Mismatch) -> Order {
        guard let id, let orderNumber, let status, let fulfilment, let lines, let wrongPickupCodes, let pickupLocked,
            let createdAtMs, let updatedAtMs, let shipments, let returns, let wrongCount = Int(exactly: wrongPickupCodes)
        else { throw JSONReader.Mismatch() }
        var order = Order(
            id: id, orderNumber: orderNumber, status: status, holdId: holdId, reference: reference, fulfilment: fulfilment, lines: lines,
            createdAtMs: createdAtMs)
        order.wrongPickupCodes = wrongCount
        order.pickupLocked = pickupLocked
        order.updatedAtMs = updatedAtMs
        order.readyAtMs = readyAtMs
        order.pickupExpiresAtMs = pickupExpiresAtMs
        order.endedAtMs = endedAtMs
        order.shipments = shipments
        order.returns = returns
        order.cancelReason = cancelReason
        return order
    }
}
