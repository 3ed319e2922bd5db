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

/// Validation of free text (names, labels): not empty after trimming, bounded, no control characters.
public enum Text {
    public static func check(_ value: String, field: String, lengthMax: Int = Limits.nameLengthMax) -> Rejection? {
        let scalars = value.unicodeScalars
        let blank = scalars.allSatisfy { $0.properties.isWhitespace }
        let control = scalars.contains { $0.value < 0x20 || $0.value == 0x7F }
        if blank || control || value.count > lengthMax {
            return .invalidText(field: field, lengthMax: lengthMax)
        }
        return nil
    }
}
