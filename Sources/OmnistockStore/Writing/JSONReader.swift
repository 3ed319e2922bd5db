/// A minimal pull reader of JSON text for the hot paths, the reading twin of `JSONWriter`.
///
/// Foundation's JSONDecoder was 63% of the CPU of `oms replay` (perf, 1,237,049 events: one
/// decoder per stored payload) and 4% of the whole machine under a hold load (the request body,
/// and the tail's decoding of the events it wrote). Readers written with this one take the
/// shapes they know and give up (`Mismatch`) on anything else: an unknown key, a null, a number
/// that is not a plain integer where one is wanted. Their callers then fall back to the
/// decoder, so every document the fast path does not take is read, and refused, exactly as
/// before; tests check that both agree on what the fast path takes.
///
/// It reads strict JSON (RFC 8259): no trailing commas, no comments, no leading zeros, no raw
/// control characters in strings. It does not check UTF-8 (the callers' text is a `String`,
/// or a body `JSONText` checked already), nor duplicate keys (`JSONText` again; stored payloads
/// have none).
public struct JSONReader {
    /// The document is not of the shape the reader asked for (or not JSON at all).
    public struct Mismatch: Error {
        public init() {}
    }

    private let bytes: UnsafeBufferPointer<UInt8>
    private var index = 0

    private init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    /// Reads `text` with `body`; nil when `body` gives up or leaves anything but whitespace.
    public static func read<T>(_ text: String, _ body: (inout JSONReader) throws(Mismatch) -> T) -> T? {
        var text = text
        return text.withUTF8 { buffer in read(buffer, body) }
    }

    /// Reads the bytes with `body`; nil when `body` gives up or leaves anything but whitespace.
    public static func read<T>(_ buffer: UnsafeBufferPointer<UInt8>, _ body: (inout JSONReader) throws(Mismatch) -> T) -> T? {
        var reader = JSONReader(buffer)
        do {
            let value = try body(&reader)
            reader.skipWhitespace()
            return reader.index == buffer.count ? value : nil
        } catch {
            return nil
        }
    }

    // MARK: - Containers

    public mutating func beginObject() throws(Mismatch) { try expect(UInt8(ascii: "{")) }

    /// The next key of the open object, its colon read; nil at the object's end (read too).
    /// `first` is true before the first member and is cleared here.
    public mutating func nextKey(first: inout Bool) throws(Mismatch) -> String? {
        skipWhitespace()
        if peek() == UInt8(ascii: "}") {
            index += 1
            return nil
        }
        if !first { try expect(UInt8(ascii: ",")) }
        first = false
        let key = try string()
        try expect(UInt8(ascii: ":"))
        return key
    }

    public mutating func beginArray() throws(Mismatch) { try expect(UInt8(ascii: "[")) }

    /// Whether the open array has another element (its comma read); at its end, reads it.
    public mutating func nextElement(first: inout Bool) throws(Mismatch) -> Bool {
        skipWhitespace()
        if peek() == UInt8(ascii: "]") {
            index += 1
            return false
        }
        if !first { try expect(UInt8(ascii: ",")) }
        first = false
        return true
    }

    // MARK: - Values

    /// Whether the next value is `null`; reads it when it is.
    public mutating func null() -> Bool {
        skipWhitespace()
        return literal("null")
    }

    public mutating func bool() throws(Mismatch) -> Bool {
        skipWhitespace()
        if literal("true") { return true }
        if literal("false") { return false }
        throw Mismatch()
    }

    /// A string that is one of the raw values of `type`.
    public mutating func value<Value: RawRepresentable>(of type: Value.Type) throws(Mismatch) -> Value where Value.RawValue == String {
        guard let value = Value(rawValue: try string()) else { throw Mismatch() }
        return value
    }

    /// A number written as a plain integer (no fraction, no exponent) that fits in 64 bits.
    public mutating func int64() throws(Mismatch) -> Int64 {
        skipWhitespace()
        let negative = peek() == UInt8(ascii: "-")
        if negative { index += 1 }
        let start = index
        var magnitude: UInt64 = 0
        while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
            let (times, overflowTimes) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, overflowSum) = times.addingReportingOverflow(UInt64(bytes[index] - UInt8(ascii: "0")))
            guard !overflowTimes, !overflowSum else { throw Mismatch() }
            magnitude = sum
            index += 1
        }
        let digits = index - start
        guard digits > 0, digits == 1 || bytes[start] != UInt8(ascii: "0") else { throw Mismatch() }
        if let next = peek(), next == UInt8(ascii: ".") || next == UInt8(ascii: "e") || next == UInt8(ascii: "E") { throw Mismatch() }
        if negative {
            guard magnitude <= UInt64(Int64.max) + 1 else { throw Mismatch() }
            return magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)
        }
        guard magnitude <= UInt64(Int64.max) else { throw Mismatch() }
        return Int64(magnitude)
    }

    /// Any JSON number, as the nearest Double (the text checked against the JSON grammar).
    public mutating func double() throws(Mismatch) -> Double {
        skipWhitespace()
        let start = index
        if peek() == UInt8(ascii: "-") { index += 1 }
        let integerStart = index
        guard skipDigits() > 0 else { throw Mismatch() }
        guard index - integerStart == 1 || bytes[integerStart] != UInt8(ascii: "0") else { throw Mismatch() }
        if peek() == UInt8(ascii: ".") {
            index += 1
            guard skipDigits() > 0 else { throw Mismatch() }
        }
        if let next = peek(), next == UInt8(ascii: "e") || next == UInt8(ascii: "E") {
            index += 1
            if let sign = peek(), sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") { index += 1 }
            guard skipDigits() > 0 else { throw Mismatch() }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        guard let value = Double(text), value.isFinite else { throw Mismatch() }
        return value
    }

    /// A string, its escapes resolved.
    public mutating func string() throws(Mismatch) -> String {
        skipWhitespace()
        try expect(UInt8(ascii: "\""))
        let start = index
        // Most strings have no escape: they are copied in one piece.
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let value = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
                index += 1
                return value
            }
            if byte == UInt8(ascii: "\\") { break }
            guard byte >= 0x20 else { throw Mismatch() }
            index += 1
        }
        var scalars = Array(UnsafeBufferPointer(rebasing: bytes[start..<index]))
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\""): return String(decoding: scalars, as: UTF8.self)
            case UInt8(ascii: "\\"): try unescape(into: &scalars)
            case 0..<0x20: throw Mismatch()
            default: scalars.append(byte)
            }
        }
        throw Mismatch()
    }

    // MARK: - Below

    private mutating func unescape(into output: inout [UInt8]) throws(Mismatch) {
        guard let byte = peek() else { throw Mismatch() }
        index += 1
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): output.append(byte)
        case UInt8(ascii: "b"): output.append(0x08)
        case UInt8(ascii: "f"): output.append(0x0C)
        case UInt8(ascii: "n"): output.append(0x0A)
        case UInt8(ascii: "r"): output.append(0x0D)
        case UInt8(ascii: "t"): output.append(0x09)
        case UInt8(ascii: "u"):
            var code = try hex4()
            if (0xD800..<0xDC00).contains(code) {
                // A high surrogate must be followed by an escaped low one.
                guard literal("\\u") else { throw Mismatch() }
                let low = try hex4()
                guard (0xDC00..<0xE000).contains(low) else { throw Mismatch() }
                code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
            } else if (0xDC00..<0xE000).contains(code) {
                throw Mismatch()
            }
            guard let scalar = Unicode.Scalar(code) else { throw Mismatch() }
            output.append(contentsOf: UTF8.encode(scalar)!)
        default: throw Mismatch()
        }
    }

    private mutating func hex4() throws(Mismatch) -> UInt32 {
        guard index + 4 <= bytes.count else { throw Mismatch() }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw Mismatch()
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }

    private mutating func skipDigits() -> Int {
        let start = index
        while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") { index += 1 }
        return index - start
    }

    private mutating func literal(_ word: StaticString) -> Bool {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count else { return false }
        for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] { return false }
        index += count
        return true
    }

    private mutating func expect(_ byte: UInt8) throws(Mismatch) {
        skipWhitespace()
        guard peek() == byte else { throw Mismatch() }
        index += 1
    }

    private func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }
}
