/// Validation of identifiers chosen by retailers and clients (location ids, SKUs).
///
/// The charset is deliberately narrow: these ids appear in URL paths, log lines, CSV files and
/// event streams, and a narrow charset means none of those needs escaping.
public enum Identifier {
    /// Whether `value` is a valid identifier: 1 to `Limits.identifierLengthMax` bytes of
    /// `[A-Za-z0-9._:-]`.
    public static func isValid(_ value: String) -> Bool {
        let bytes = value.utf8
        guard !bytes.isEmpty, bytes.count <= Limits.identifierLengthMax else { return false }
        return bytes.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: ":"), UInt8(ascii: "-"):
                true
            default:
                false
            }
        }
    }

    /// Returns a rejection naming `field` when `value` is not a valid identifier.
    public static func check(_ value: String, field: String) -> Rejection? {
        isValid(value) ? nil : .invalidIdentifier(field: field)
    }
}

/// Validation of free text (names, labels): not empty, not only whitespace, bounded, no
/// control characters. Each fault is reported for what it is: a tab in a name once read
/// "must be 1 to 200 characters".
public enum Text {
    public static func check(_ value: String, field: String, lengthMax: Int = Limits.nameLengthMax) -> Rejection? {
        // Lengths count Unicode code points, as JSON Schema's `maxLength` does, so the OpenAPI
        // document and the server agree: counted in grapheme clusters, 200 flags (each two code
        // points) passed here and failed every client-side validator.
        let scalars = value.unicodeScalars
        if value.isEmpty || scalars.count > lengthMax {
            return .invalidText(field: field, lengthMax: lengthMax)
        }
        if let control = scalars.first(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }) {
            return .notAllowed(field: field, reason: "it holds the control character \(name(of: control)); send printable text")
        }
        if scalars.allSatisfy({ $0.properties.isWhitespace }) {
            return .notAllowed(field: field, reason: "it is only whitespace; send at least one visible character")
        }
        return nil
    }

    /// `U+0009 (tab)`: the code point, and the usual name of the common ones.
    static func name(of scalar: Unicode.Scalar) -> String {
        let code = "U+" + String(repeating: "0", count: max(0, 4 - String(scalar.value, radix: 16).count))
            + String(scalar.value, radix: 16, uppercase: true)
        switch scalar.value {
        case 0x00: return code + " (NUL)"
        case 0x09: return code + " (tab)"
        case 0x0A: return code + " (line feed)"
        case 0x0D: return code + " (carriage return)"
        case 0x1B: return code + " (escape)"
        case 0x7F: return code + " (delete)"
        default: return code
        }
    }
}
