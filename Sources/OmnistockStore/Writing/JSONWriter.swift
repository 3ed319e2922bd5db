import OmnistockCore
/// A minimal streaming JSON writer for the hot paths, where Foundation's JSONEncoder cost more
/// than the database work it reports (measured with perf: 57% of the CPU of an availability
/// call for 100 SKUs x 20 locations; 10% of a 10,000-line movements request for the event
/// payloads). It writes exactly the shapes the Codable types declare; tests check both agree.
public struct JSONWriter {
    public private(set) var bytes: [UInt8] = []
    /// Whether the open container at each depth has a value already (bit `depth`), so the next
    /// one is preceded by a comma. A bit stack rather than an array of flags: the array's
    /// uniqueness and bounds checks were a measured part of an availability answer's cost.
    private var hasValue: UInt64 = 0
    private var depth = 0
    /// Containers nested deeper than this are a programming error (our documents nest 5 deep).
    static let depthMax = 63

    public init(capacity: Int = 4096) {
        bytes.reserveCapacity(capacity)
    }

    public mutating func beginObject() { open(UInt8(ascii: "{")) }
    public mutating func endObject() { close(UInt8(ascii: "}")) }
    public mutating func beginArray() { open(UInt8(ascii: "[")) }
    public mutating func endArray() { close(UInt8(ascii: "]")) }

    private mutating func open(_ bracket: UInt8) {
        separate()
        bytes.append(bracket)
        depth += 1
        precondition(depth <= Self.depthMax, "JSON nested deeper than JSONWriter.depthMax")
        hasValue &= ~(1 << UInt64(depth))
    }

    private mutating func close(_ bracket: UInt8) {
        precondition(depth > 0, "a JSON container closed that was not opened")
        depth -= 1
        bytes.append(bracket)
    }

    /// Writes `"name":` (after a comma when needed) in one append; the next value written
    /// belongs to it. Four appends a key were 9% of an availability answer's CPU.
    public mutating func key(_ name: StaticString) {
        let bit: UInt64 = 1 << UInt64(depth)
        let comma = hasValue & bit != 0
        hasValue &= ~bit
        name.withUTF8Buffer { utf8 in
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: utf8.count + 4) { buffer in
                var at = 0
                if comma {
                    buffer[at] = UInt8(ascii: ",")
                    at += 1
                }
                buffer[at] = UInt8(ascii: "\"")
                at += 1
                _ = UnsafeMutableBufferPointer(rebasing: buffer[at...]).initialize(fromContentsOf: utf8)
                at += utf8.count
                buffer[at] = UInt8(ascii: "\"")
                buffer[at + 1] = UInt8(ascii: ":")
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[..<(at + 2)]))
            }
        }
    }

    /// Writes members already written as JSON (`"a":1,"b":"x"`, as `members(of:)` makes them)
    /// into the open object, as if each had been written here.
    public mutating func members(_ json: [UInt8]) {
        precondition(!json.isEmpty, "members are at least one")
        separate()
        bytes.append(contentsOf: json)
    }

    /// The members an object body writes, without its braces, for `members(_:)`.
    public static func members(of body: (inout JSONWriter) -> Void) -> [UInt8] {
        var writer = JSONWriter(capacity: 128)
        writer.beginObject()
        body(&writer)
        writer.endObject()
        return Array(writer.bytes.dropFirst().dropLast())
    }

    public mutating func string(_ value: String) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        var value = value
        let plain = value.withUTF8 { utf8 -> Bool in
            // Most strings (ids, names) need no escape: copied whole.
            guard !utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) else { return false }
            bytes.append(contentsOf: utf8)
            return true
        }
        if !plain { escaped(value) }
        bytes.append(UInt8(ascii: "\""))
    }

    private mutating func escaped(_ value: String) {
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x0A: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
            default: bytes.append(byte)
            }
        }
    }

    /// Writes JSON text that is already a value (a stored payload), as it is.
    public mutating func raw(_ json: String) {
        separate()
        bytes.append(contentsOf: json.utf8)
    }

    public mutating func bool(_ value: Bool) {
        separate()
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
    }

    public mutating func null() {
        separate()
        bytes.append(contentsOf: "null".utf8)
    }

    public mutating func integer(_ value: Int64) {
        separate()
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        digits(value.magnitude)
    }

    /// The decimal digits of `value`, written backwards into a small buffer, then copied.
    private mutating func digits(_ value: UInt64) {
        var magnitude = value
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: UInt64's 20 digits fit
        withUnsafeMutableBytes(of: &digits) { buffer in
            var at = buffer.count
            repeat {
                at -= 1
                buffer[at] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            bytes.append(contentsOf: buffer[at...])
        }
    }

    /// Finite doubles only (distances); written as Swift's shortest round-trip form.
    public mutating func number(_ value: Double) {
        precondition(value.isFinite, "JSON has no NaN or infinity")
        if value == value.rounded(), abs(value) < 1e15 {
            integer(Int64(value))
            return
        }
        // Distances are shown in hundredths (Geo.shownDistanceKilometres): such a value is the
        // double nearest its two-decimal form, which is then also its shortest form, the one
        // Swift prints; written from the integer of hundredths without the formatter (it was
        // 7% of an availability answer's CPU).
        let hundredths = (value * 100).rounded()
        if abs(value) < 1e13, hundredths / 100 == value {
            let whole = Int64(hundredths.magnitude) / 100
            let fraction = Int64(hundredths.magnitude) % 100
            separate()
            if value < 0 { bytes.append(UInt8(ascii: "-")) }
            digits(UInt64(whole))
            bytes.append(UInt8(ascii: "."))
            bytes.append(UInt8(ascii: "0") + UInt8(fraction / 10))
            if fraction % 10 != 0 { bytes.append(UInt8(ascii: "0") + UInt8(fraction % 10)) }
            return
        }
        separate()
        bytes.append(contentsOf: "\(value)".utf8)
    }

    private mutating func separate() {
        let bit: UInt64 = 1 << UInt64(depth)
        if hasValue & bit != 0 { bytes.append(UInt8(ascii: ",")) }
        hasValue |= bit
    }
}

extension JSONWriter {
    /// Held lines as an array, the one shape the ledger's payloads and the API's holds share.
    public mutating func holdLines(_ lines: [HoldLine]) {
        beginArray()
        for line in lines {
            beginObject()
            key("id"); string(line.id)
            key("locationId"); string(line.locationId)
            key("quantity"); integer(line.quantity)
            key("sku"); string(line.sku)
            endObject()
        }
        endArray()
    }
}
