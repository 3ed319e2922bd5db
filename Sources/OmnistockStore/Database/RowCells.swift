import PostgresNIO

/// A row's cells decoded one by one, each through its concrete type.
///
/// Why: decoding a row as a tuple (`row.decode((String, Int64, …).self)`) looks PostgresNIO's
/// generic metadata up for every row: 12 % of a replay's CPU (perf). The bulk reads (the
/// ledger's pages, the availability model's positions and hold lines) go cell by cell.
struct RowCells {
    private var cells: PostgresRow.Iterator
    /// What the rows are, for the error a short row raises.
    private let what: StaticString

    init(_ row: PostgresRow, _ what: StaticString) {
        self.cells = row.makeIterator()
        self.what = what
    }

    /// The next cell, which must not be NULL.
    @inline(__always)
    mutating func next<T: PostgresDecodable>(_: T.Type) throws -> T {
        guard let cell = cells.next() else { throw StoreError.corrupt("\(what) lacks a column") }
        guard var bytes = cell.bytes else { throw StoreError.corrupt("\(what) has NULL in column \(cell.columnName)") }
        return try T(from: &bytes, type: cell.dataType, format: cell.format, context: .default)
    }

    /// The next cell, nil for NULL.
    @inline(__always)
    mutating func optional<T: PostgresDecodable>(_: T.Type) throws -> T? {
        guard let cell = cells.next() else { throw StoreError.corrupt("\(what) lacks a column") }
        guard var bytes = cell.bytes else { return nil }
        return try T(from: &bytes, type: cell.dataType, format: cell.format, context: .default)
    }
}
