import NIOCore
import OmnistockCore
/// A minimal streaming JSON writer for the hot paths, where Foundation's JSONEncoder cost more
/// than the database work it reports (measured with perf: 57% of the CPU of an availability
/// call for 100 SKUs x 20 locations; 10% of a 10,000-line movements request for the event
/// payloads). It writes exactly the shapes the Codable types declare; tests check both agree.
///
/// It writes through a pointer into one buffer it owns, which doubles when full; it cannot be
/// copied, so no write checks whether its bytes are shared. A `[UInt8]` appended to checked its
/// uniqueness and capacity on every append and copied slices by its generic path (the writer's
/// appends were a third of a cart read's CPU, perf); the small writes are inlinable, so the
/// hand-written shapes of other modules compile to stores.
public struct JSONWriter: ~Copyable {
    @usableFromInline var base: UnsafeMutablePointer<UInt8>
    @usableFromInline var count = 0
    @usableFromInline var capacity: Int
    /// Whether the open container at each depth has a value already (bit `depth`), so the next
    /// one is preceded by a comma. A bit stack rather than an array of flags: the array's
    /// uniqueness and bounds checks were a measured part of an availability answer's cost.
    @usableFromInline var hasValue: UInt64 = 0
    @usableFromInline var depth = 0
    /// Containers nested deeper than this are a programming error (our documents nest 5 deep).
    static let depthMax = 63

    public init(capacity: Int = 4096) {
        self.capacity = max(capacity, 16)
        base = .allocate(capacity: self.capacity)
    }

    deinit { base.deallocate() }

    /// The document so far, copied out.
    public var bytes: [UInt8] { Array(UnsafeBufferPointer(start: base, count: count)) }

    /// The document so far, copied once into a buffer an HTTP body can take.
    public var byteBuffer: ByteBuffer { ByteBuffer(bytes: UnsafeBufferPointer(start: base, count: count)) }

    public mutating func beginObject() { open(UInt8(ascii: "{")) }
    public mutating func endObject() { close(UInt8(ascii: "}")) }
    public mutating func beginArray() { open(UInt8(ascii: "[")) }
    public mutating func endArray() { close(UInt8(ascii: "]")) }

    private mutating func open(_ bracket: UInt8) {
        separate()
        append(byte: bracket)
        depth += 1
        precondition(depth <= Self.depthMax, "JSON nested deeper than JSONWriter.depthMax")
        hasValue &= ~(1 << UInt64(depth))
    }

    private mutating func close(_ bracket: UInt8) {
        precondition(depth > 0, "a JSON container closed that was not opened")
        depth -= 1
        append(byte: bracket)
    }

    /// Writes `"name":` (after a comma when needed); the next value written belongs to it.
    public mutating func key(_ name: StaticString) {
        let bit: UInt64 = 1 << UInt64(depth)
        if hasValue & bit != 0 { append(byte: UInt8(ascii: ",")) }
        hasValue &= ~bit
        append(byte: UInt8(ascii: "\""))
        append(name)
        append(byte: UInt8(ascii: "\""))
        append(byte: UInt8(ascii: ":"))
    }

    /// Writes members already written as JSON (`"a":1,"b":"x"`, as `members(of:)` makes them)
    /// into the open object, as if each had been written here.
    public mutating func members(_ json: [UInt8]) {
        precondition(!json.isEmpty, "members are at least one")
        separate()
        append(json)
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
        appendString(value)
    }

    /// Writes JSON text that is already a value (a stored payload), as it is.
    public mutating func raw(_ json: String) {
        separate()
        var json = json
        json.withUTF8 { append($0) }
    }

    public mutating func bool(_ value: Bool) {
        separate()
        append(value ? "true" : "false")
    }

    public mutating func null() {
        separate()
        append("null")
    }

    public mutating func integer(_ value: Int64) {
        separate()
        appendInteger(value)
    }

    /// Finite doubles only (distances); written as Swift's shortest round-trip form.
    public mutating func number(_ value: Double) {
        separate()
        appendNumber(value)
    }

    @inlinable @inline(__always) mutating func separate() {
        let bit: UInt64 = 1 << UInt64(depth)
        if hasValue & bit != 0 { append(byte: UInt8(ascii: ",")) }
        hasValue |= bit
    }
}

extension JSONWriter {
    /// Starts a value its caller writes by hand with the `append` methods below (after a comma
    /// when one is due), for a fixed shape on a hot path where each member's bookkeeping was a
    /// measured cost. The caller writes one whole, valid JSON value, and a test checks it
    /// against JSONEncoder.
    @inlinable @inline(__always) public mutating func beginHandWrittenValue() { separate() }

    /// Bytes as they are (JSON punctuation and member names, in a hand-written value).
    @inlinable @inline(__always) public mutating func append(_ literal: StaticString) {
        literal.withUTF8Buffer { append($0) }
    }

    @inlinable @inline(__always) public mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { append($0) }
    }

    /// A JSON string: quoted, escaped where JSON needs it.
    public mutating func appendString(_ value: String) {
        append(byte: UInt8(ascii: "\""))
        var value = value
        let plain = value.withUTF8 { utf8 -> Bool in
            // Most strings (ids, names) need no escape: copied whole.
            guard !utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) else { return false }
            append(utf8)
            return true
        }
        if !plain { escaped(value) }
        append(byte: UInt8(ascii: "\""))
    }

    @inlinable @inline(__always) public mutating func appendInteger(_ value: Int64) {
        if value < 0 { append(byte: UInt8(ascii: "-")) }
        digits(value.magnitude)
    }

    /// Finite doubles only; Swift's shortest round-trip form, as JSONEncoder writes it.
    public mutating func appendNumber(_ value: Double) {
        precondition(value.isFinite, "JSON has no NaN or infinity")
        if value == value.rounded(), abs(value) < 1e15 {
            appendInteger(Int64(value))
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
            if value < 0 { append(byte: UInt8(ascii: "-")) }
            digits(UInt64(whole))
            append(byte: UInt8(ascii: "."))
            append(byte: UInt8(ascii: "0") + UInt8(fraction / 10))
            if fraction % 10 != 0 { append(byte: UInt8(ascii: "0") + UInt8(fraction % 10)) }
            return
        }
        var text = "\(value)"
        text.withUTF8 { append($0) }
    }

    /// The decimal digits of `value`.
    @inlinable @inline(__always) mutating func digits(_ value: UInt64) {
        // Most figures of an answer are below 100: written without the counting loop.
        if value < 10 {
            append(byte: UInt8(ascii: "0") + UInt8(value))
            return
        }
        if value < 100 {
            let at = room(2)
            at[0] = UInt8(ascii: "0") + UInt8(value / 10)
            at[1] = UInt8(ascii: "0") + UInt8(value % 10)
            advance(2)
            return
        }
        longDigits(value)
    }

    /// The decimal digits of `value`, counted first and then written in place from the last.
    @usableFromInline mutating func longDigits(_ value: UInt64) {
        var length = 1
        var rest = value / 10
        while rest > 0 {
            length += 1
            rest /= 10
        }
        let at = room(length)
        var magnitude = value
        var index = length
        repeat {
            index -= 1
            at[index] = UInt8(ascii: "0") + UInt8(magnitude % 10)
            magnitude /= 10
        } while magnitude > 0
        advance(length)
    }

    private mutating func escaped(_ value: String) {
        let hex: StaticString = "0123456789abcdef"
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): append("\\\"")
            case UInt8(ascii: "\\"): append("\\\\")
            case 0x0A: append("\\n")
            case 0x0D: append("\\r")
            case 0x09: append("\\t")
            case 0..<0x20:
                append("\\u00")
                append(byte: hex.utf8Start[Int(byte >> 4)])
                append(byte: hex.utf8Start[Int(byte & 0xF)])
            default: append(byte: byte)
            }
        }
    }

    @inlinable @inline(__always) mutating func append(byte: UInt8) {
        room(1).pointee = byte
        advance(1)
    }

    @inlinable @inline(__always) mutating func append(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let source = bytes.baseAddress, !bytes.isEmpty else { return }
        room(bytes.count).update(from: source, count: bytes.count)
        advance(bytes.count)
    }

    /// Where the next `count` bytes go; `advance` then counts those written.
    @inlinable @inline(__always) mutating func room(_ extra: Int) -> UnsafeMutablePointer<UInt8> {
        if count + extra > capacity { grow(to: count + extra) }
        return base + count
    }

    @inlinable @inline(__always) mutating func advance(_ written: Int) {
        count += written
        assert(count <= capacity, "a writer wrote past the room it had")
    }

    @usableFromInline mutating func grow(to needed: Int) {
        let grown = max(needed, capacity * 2)
        let moved = UnsafeMutablePointer<UInt8>.allocate(capacity: grown)
        moved.update(from: base, count: count)
        base.deallocate()
        base = moved
        capacity = grown
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
