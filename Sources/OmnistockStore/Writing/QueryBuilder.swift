import PostgresNIO

/// SQL text with `$n` placeholders and the values bound to them, for statements assembled from
/// several pieces (one round trip instead of one per piece).
struct QueryBuilder {
    var sql = ""
    var binds = PostgresBindings()

    /// Binds a value and returns its placeholder.
    mutating func bind<Value: PostgresThrowingDynamicTypeEncodable>(_ value: Value) throws -> String {
        try binds.append(value)
        return "$\(binds.count)"
    }

    var query: PostgresQuery { PostgresQuery(unsafeSQL: sql, binds: binds) }
}
