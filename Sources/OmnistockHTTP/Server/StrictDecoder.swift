/// A decoder wrapper that refuses JSON object keys the target type does not declare.
///
/// Foundation's JSONDecoder ignores unknown keys, so `"saftyStock": 2` would silently set
/// nothing. This wrapper checks every object against the CodingKeys of the type that decodes it
/// (a key is known when `Key(stringValue:)` accepts it), at any depth, in the same pass as the
/// decoding itself: no second parse of the body. An optional field sent as `null` is refused
/// (NullField) unless the body documents it as nullable (NullableFields, InputRules.swift):
/// Foundation would read it as absent.
struct StrictDecoder: Decoder {
    let inner: any Decoder
    var codingPath: [any CodingKey] { inner.codingPath }
    var userInfo: [CodingUserInfoKey: Any] { inner.userInfo }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        let all = try inner.container(keyedBy: AnyCodingKey.self)
        for key in all.allKeys where Key(stringValue: key.stringValue) == nil {
            throw UnknownField(path: codingPath + [key])
        }
        let nullable = userInfo[.nullableFields] as? Set<String> ?? []
        return KeyedDecodingContainer(StrictKeyedContainer(inner: try inner.container(keyedBy: Key.self), nullable: nullable))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        StrictUnkeyedContainer(inner: try inner.unkeyedContainer())
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        StrictSingleValueContainer(inner: try inner.singleValueContainer())
    }
}

/// A key of the body that the endpoint does not know.
struct UnknownField: Error {
    let path: [any CodingKey]
}

/// An optional field sent as `null` where the API does not document null.
struct NullField: Error {
    let path: [any CodingKey]
    /// What the field takes instead ("an integer").
    let expected: String
}

struct AnyCodingKey: CodingKey {
    let stringValue: String
    let intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue; self.intValue = nil }
    init(intValue: Int) { self.stringValue = String(intValue); self.intValue = intValue }
}

/// Decodes `T` strictly; primitives go straight through, everything else through StrictDecoder.
private func strictly<T: Decodable>(_ type: T.Type, _ decoder: () throws -> any Decoder) throws -> T {
    try T(from: StrictDecoder(inner: try decoder()))
}

private struct StrictKeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let inner: KeyedDecodingContainer<Key>
    /// The JSON pointers of the fields whose null means absent.
    let nullable: Set<String>
    var codingPath: [any CodingKey] { inner.codingPath }
    var allKeys: [Key] { inner.allKeys }
    func contains(_ key: Key) -> Bool { inner.contains(key) }
    func decodeNil(forKey key: Key) throws -> Bool { try inner.decodeNil(forKey: key) }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try inner.decode(type, forKey: key) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try inner.decode(type, forKey: key) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try inner.decode(type, forKey: key) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try inner.decode(type, forKey: key) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try inner.decode(type, forKey: key) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try inner.decode(type, forKey: key) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try inner.decode(type, forKey: key) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try inner.decode(type, forKey: key) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try inner.decode(type, forKey: key) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try inner.decode(type, forKey: key) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try inner.decode(type, forKey: key) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try inner.decode(type, forKey: key) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try inner.decode(type, forKey: key) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try inner.decode(type, forKey: key) }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        if T.self is any StrictPassThrough.Type { return try inner.decode(type, forKey: key) }
        // A missing key must read as missing, not as a null handed to the nested type.
        guard inner.contains(key) else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "No value for \(key.stringValue)."))
        }
        return try strictly(type) { try inner.superDecoder(forKey: key) }
    }

    /// Whether an optional field holds a value: false when it is absent (or a documented null),
    /// and a null anywhere else is refused rather than read as absent.
    private func present(_ key: Key, _ type: Any.Type) throws -> Bool {
        guard inner.contains(key) else { return false }
        guard try inner.decodeNil(forKey: key) else { return true }
        if nullable.contains(JSON.pointer(codingPath + [key])) { return false }
        throw NullField(path: codingPath + [key], expected: JSON.describe(type))
    }

    // Every typed overload is written out: the protocol's defaults would read null as absent.
    func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? { try present(key, type) ? decode(type, forKey: key) : nil }
    func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? { try present(key, type) ? decode(type, forKey: key) : nil }
    func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? { try present(key, type) ? decode(type, forKey: key) : nil }
    func decodeIfPresent(_ type: Float.Type, forKey key: Key) throws -> Float? { try present(key, type) ? decode(type, forKey: key) : nil }
    func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? { try present(key, type) ? decode(type, forKey: key) : nil }
    func decodeIfPresent(_ type: Int8.Type, forKey key: Key) throws -> Int8? { try present(key, type) ? decode(type, forKey: key) : nil }
    func decodeIfPresent(_ type: Int16.Type, forKey key: Key) throws -> Int16? { try present(key, type) ? decode(type, forKey: key) : nil }
    func decodeIfPresent(_ type: Int32.Type, forKey key: Key) throws -> Int32? { try present(key, type) ? decode(type, forKey: key) : nil }
    func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? { try present(key, type) ? decode(type, forKey: key) : nil }
    func decodeIfPresent(_ type: UInt.Type, forKey key: Key) throws -> UInt? { try present(key, type) ? decode(type, forKey: key) : nil }
    func decodeIfPresent(_ type: UInt8.Type, forKey key: Key) throws -> UInt8? { try present(key, type) ? decode(type, forKey: key) : nil }
    func decodeIfPresent(_ type: UInt16.Type, forKey key: Key) throws -> UInt16? { try present(key, type) ? decode(type, forKey: key) : nil }
    func decodeIfPresent(_ type: UInt32.Type, forKey key: Key) throws -> UInt32? { try present(key, type) ? decode(type, forKey: key) : nil }
    func decodeIfPresent(_ type: UInt64.Type, forKey key: Key) throws -> UInt64? { try present(key, type) ? decode(type, forKey: key) : nil }
    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        try present(key, type) ? decode(type, forKey: key) : nil
    }
    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try StrictDecoder(inner: try inner.superDecoder(forKey: key)).container(keyedBy: type)
    }
    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        StrictUnkeyedContainer(inner: try inner.nestedUnkeyedContainer(forKey: key))
    }
    func superDecoder() throws -> any Decoder { StrictDecoder(inner: try inner.superDecoder()) }
    func superDecoder(forKey key: Key) throws -> any Decoder { StrictDecoder(inner: try inner.superDecoder(forKey: key)) }
}

private struct StrictUnkeyedContainer: UnkeyedDecodingContainer {
    var inner: any UnkeyedDecodingContainer
    var codingPath: [any CodingKey] { inner.codingPath }
    var count: Int? { inner.count }
    var isAtEnd: Bool { inner.isAtEnd }
    var currentIndex: Int { inner.currentIndex }
    mutating func decodeNil() throws -> Bool { try inner.decodeNil() }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        if T.self is any StrictPassThrough.Type { return try inner.decode(type) }
        let decoder = try inner.superDecoder()
        return try T(from: StrictDecoder(inner: decoder))
    }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        try StrictDecoder(inner: try inner.superDecoder()).container(keyedBy: type)
    }
    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        StrictUnkeyedContainer(inner: try inner.nestedUnkeyedContainer())
    }
    mutating func superDecoder() throws -> any Decoder { StrictDecoder(inner: try inner.superDecoder()) }
}

private struct StrictSingleValueContainer: SingleValueDecodingContainer {
    let inner: any SingleValueDecodingContainer
    var codingPath: [any CodingKey] { inner.codingPath }
    func decodeNil() -> Bool { inner.decodeNil() }
    func decode(_ type: Bool.Type) throws -> Bool { try inner.decode(type) }
    func decode(_ type: String.Type) throws -> String { try inner.decode(type) }
    func decode(_ type: Double.Type) throws -> Double { try inner.decode(type) }
    func decode(_ type: Float.Type) throws -> Float { try inner.decode(type) }
    func decode(_ type: Int.Type) throws -> Int { try inner.decode(type) }
    func decode(_ type: Int8.Type) throws -> Int8 { try inner.decode(type) }
    func decode(_ type: Int16.Type) throws -> Int16 { try inner.decode(type) }
    func decode(_ type: Int32.Type) throws -> Int32 { try inner.decode(type) }
    func decode(_ type: Int64.Type) throws -> Int64 { try inner.decode(type) }
    func decode(_ type: UInt.Type) throws -> UInt { try inner.decode(type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try inner.decode(type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try inner.decode(type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try inner.decode(type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try inner.decode(type) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        if T.self is any StrictPassThrough.Type { return try inner.decode(type) }
        return try inner.decode(type)
    }
}

/// Leaf types whose own decoding reads a single value: they need no key checks, and going
/// straight to Foundation keeps them fast.
protocol StrictPassThrough {}
extension String: StrictPassThrough {}
extension Int64: StrictPassThrough {}
extension Int: StrictPassThrough {}
extension Double: StrictPassThrough {}
extension Bool: StrictPassThrough {}
extension Optional: StrictPassThrough where Wrapped: StrictPassThrough {}
