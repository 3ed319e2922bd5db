import ArgumentParser
import Crypto
import Foundation
import Logging
import OmnistockCore
import OmnistockStore

/// `oms import movements|counts FILE.csv`: bulk loads from warehouse, ERP or POS exports.
///
/// Movements go in transactions of up to 10,000 lines; a count is one transaction. Each batch is
/// claimed in the import log (the file's hash and the batch's place in it) in the transaction
/// that applies it, so running the same file twice changes nothing the second time, ever.
struct Import: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Import stock movements or counts from a CSV file (idempotent per file).",
        discussion: """
            movements: header sku,locationId,kind,quantity[,reason][,reference][,occurredAt]
            counts:    header locationId,countedAt,sku,quantity[,full]  (rows with the same locationId and
                       countedAt form one count; full=true counts unlisted SKUs as zero)
            """)

    enum Kind: String, ExpressibleByArgument, CaseIterable {
        case movements
        case counts
    }

    @OptionGroup var options: DatabaseOptions
    @Argument(help: "movements or counts") var kind: Kind
    @Argument(help: "The CSV file, with a header row.") var file: String

    func run() async throws {
        guard let data = FileManager.default.contents(atPath: file) else { throw ValidationFailure("cannot read \(file)") }
        // A spreadsheet's UTF-8 byte order mark is not part of the first column's name.
        let text = String(decoding: data, as: UTF8.self)
        let table = try CSV.parse(text.hasPrefix("\u{FEFF}") ? String(text.dropFirst()) : text)
        let fileHash = SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
        let batches: [ImportBatch] =
            switch kind {
            case .movements: try ImportBatch.movements(table)
            case .counts: try ImportBatch.counts(table)
            }
        let report = Progress.reporter("imported", unit: "lines", total: Int64(table.rows.count))
        let kind = self.kind
        let (applied, replayed) = try await withDatabase(options) { context in
            let log = ImportLog(logger: context.logger)
            let claimed = try await log.claimed(fileSHA256: fileHash, kind: kind.rawValue, on: context.database)
            try await Self.preflight(batches.enumerated().filter { !claimed.contains($0.offset) }, kind: kind, context: context)
            var counts = (applied: 0, replayed: 0)
            var done: Int64 = 0
            for (index, batch) in batches.enumerated() {
                let fresh = try await Self.apply(batch, index: index, kind: kind, fileHash: fileHash, log: log, context: context)
                if fresh { counts.applied += 1 } else { counts.replayed += 1 }
                done += Int64(batch.lineNumbers.count)
                report(done)
            }
            return counts
        }
        Progress.finish()
        say("\(kind.rawValue): \(table.rows.count) lines in \(batches.count) batch(es): \(applied) applied, \(replayed) already imported")
    }

    /// The batches not applied before, run through the core against the current stock, writing
    /// nothing: a faulty line refuses the whole file.
    private static func preflight(_ pending: [(offset: Int, element: ImportBatch)], kind: Kind, context: CommandContext) async throws {
        switch kind {
        case .movements:
            let work = pending.map { entry -> [MovementLine] in
                if case .movements(let lines) = entry.element.work { return lines }
                preconditionFailure("a movements import holds movement batches")
            }
            if let (index, rejections) = try await context.stores.stock.simulate(movementBatches: work, on: context.database) {
                throw ValidationFailure(pending[index].element.explain(rejections) + "\nnothing was imported")
            }
        case .counts:
            let locations = try await context.stores.stock.knownLocations(
                Set(pending.compactMap { entry -> String? in
                    if case .count(let count) = entry.element.work { return count.locationId }
                    return nil
                }), on: context.database)
            // The database's clock, the one every write decides by.
            let nowMs = try await context.stores.stock.nowMs(on: context.database)
            for (_, batch) in pending {
                guard case .count(let count) = batch.work else { continue }
                let faults = StockLedger.validate(count: count, locationExists: locations.contains(count.locationId), nowMs: nowMs)
                if !faults.isEmpty { throw ValidationFailure(batch.explain(Rejections(faults)) + "\nnothing was imported") }
            }
        }
    }

    /// Applies one batch in its own transaction, once per file: false when an earlier run did.
    private static func apply(
        _ batch: ImportBatch, index: Int, kind: Kind, fileHash: String, log: ImportLog, context: CommandContext
    ) async throws -> Bool {
        let metadata = EventMetadata(actor: "cli:import", idempotencyKey: "import:\(kind.rawValue):\(fileHash):\(index)")
        do {
            return try await context.database.transaction { connection in
                let transaction = Transaction(connection)
                guard try await log.claim(fileSHA256: fileHash, kind: kind.rawValue, batch: index, in: transaction) else { return false }
                let result =
                    switch batch.work {
                    case .movements(let lines): try await context.stores.stock.move(lines, metadata: metadata, in: transaction)
                    case .count(let count): try await context.stores.stock.count(count, metadata: metadata, in: transaction)
                    }
                try await log.record(events: result.events.count, fileSHA256: fileHash, kind: kind.rawValue, batch: index, in: transaction)
                return true
            }
        } catch let rejections as Rejections {
            throw ValidationFailure(batch.explain(rejections))
        } catch let rejection as Rejection {
            throw ValidationFailure(batch.explain(Rejections(rejection)))
        }
    }
}

/// One transaction's worth of an import, with the file line of each of its entries.
struct ImportBatch {
    enum Work {
        case movements([MovementLine])
        case count(Count)
    }

    var work: Work
    /// The CSV line number of each line of the batch, in order.
    var lineNumbers: [Int]

    /// Turns rejections that name a batch entry ("movements/12", "lines/3") into file lines.
    func explain(_ rejections: Rejections) -> String {
        rejections.all.map { rejection in
            if case .inLine(let path, let inner) = rejection, let index = path.split(separator: "/").last.flatMap({ Int($0) }),
                index < lineNumbers.count
            {
                return "line \(lineNumbers[index]): \(inner.detail)"
            }
            return "line \(lineNumbers.first ?? 0)…: \(rejection.detail)"
        }.joined(separator: "\n")
    }

    static func movements(_ table: CSV.Table) throws -> [ImportBatch] {
        let sku = try table.column("sku"), location = try table.column("locationId"), kind = try table.column("kind")
        let quantity = try table.column("quantity")
        let reason = table.optionalColumn("reason"), reference = table.optionalColumn("reference")
        let occurredAt = table.optionalColumn("occurredAt")
        var lines: [MovementLine] = []
        var errors: [String] = []
        for (index, row) in table.rows.enumerated() {
            let number = table.lines[index]
            guard let parsedKind = MovementKind(rawValue: row[kind]) else {
                errors.append("line \(number): kind must be one of \(MovementKind.allCases.map(\.rawValue).joined(separator: ", "))")
                continue
            }
            guard let parsedQuantity = Int64(row[quantity]) else {
                errors.append("line \(number): quantity must be an integer")
                continue
            }
            var occurred: Int64?
            if let occurredAt, !row[occurredAt].isEmpty {
                guard let date = CSV.date(row[occurredAt]) else {
                    errors.append("line \(number): occurredAt must be an RFC 3339 time")
                    continue
                }
                occurred = Int64((date.timeIntervalSince1970 * 1000).rounded())
            }
            lines.append(MovementLine(
                sku: row[sku], locationId: row[location], kind: parsedKind, quantity: parsedQuantity,
                reason: reason.flatMap { row[$0].isEmpty ? nil : row[$0] }, reference: reference.flatMap { row[$0].isEmpty ? nil : row[$0] },
                occurredAtMs: occurred))
        }
        if !errors.isEmpty { throw ValidationFailure(errors.prefix(50).joined(separator: "\n")) }
        return stride(from: 0, to: lines.count, by: Limits.movementLinesMax).map { start in
            let end = min(start + Limits.movementLinesMax, lines.count)
            return ImportBatch(work: .movements(Array(lines[start..<end])), lineNumbers: (start..<end).map { table.lines[$0] })
        }
    }

    static func counts(_ table: CSV.Table) throws -> [ImportBatch] {
        let location = try table.column("locationId"), countedAt = try table.column("countedAt")
        let sku = try table.column("sku"), quantity = try table.column("quantity")
        let full = table.optionalColumn("full")
        var groups: [String: (count: Count, lines: [Int])] = [:]
        var order: [String] = []
        var errors: [String] = []
        for (index, row) in table.rows.enumerated() {
            let number = table.lines[index]
            guard let date = CSV.date(row[countedAt]) else {
                errors.append("line \(number): countedAt must be an RFC 3339 time")
                continue
            }
            guard let parsedQuantity = Int64(row[quantity]) else {
                errors.append("line \(number): quantity must be an integer")
                continue
            }
            let group = row[location] + "\u{1}" + row[countedAt]
            if groups[group] == nil {
                order.append(group)
                groups[group] = (
                    Count(locationId: row[location], countedAtMs: Int64((date.timeIntervalSince1970 * 1000).rounded()), full: false, lines: []), []
                )
            }
            groups[group]!.count.lines.append(CountLine(sku: row[sku], quantity: parsedQuantity))
            groups[group]!.lines.append(number)
            if let full, ["true", "1", "yes"].contains(row[full].lowercased()) { groups[group]!.count.full = true }
        }
        if !errors.isEmpty { throw ValidationFailure(errors.prefix(50).joined(separator: "\n")) }
        // A partial count is per SKU, so a large one splits into counts of the same time without
        // changing its meaning; a full count (unlisted SKUs are zero) must stay whole.
        return try order.flatMap { group -> [ImportBatch] in
            let (count, lines) = groups[group]!
            if count.full && count.lines.count > Limits.countLinesMax {
                throw ValidationFailure(
                    "line \(lines[0]): a full count may list at most \(Limits.countLinesMax) SKUs; import it as partial counts (full=false) instead")
            }
            return stride(from: 0, to: count.lines.count, by: Limits.countLinesMax).map { start in
                let end = min(start + Limits.countLinesMax, count.lines.count)
                var part = count
                part.lines = Array(count.lines[start..<end])
                return ImportBatch(work: .count(part), lineNumbers: Array(lines[start..<end]))
            }
        }
    }
}

/// A small RFC 4180 reader: commas, double-quoted fields with doubled quotes, CRLF or LF.
enum CSV {
    struct Table {
        var header: [String]
        var rows: [[String]]
        /// The file line where each row starts (the header is line 1).
        var lines: [Int]

        func column(_ name: String) throws -> Int {
            guard let index = header.firstIndex(of: name) else {
                throw ValidationFailure("the header row has no '\(name)' column (it has: \(header.joined(separator: ",")))")
            }
            return index
        }

        func optionalColumn(_ name: String) -> Int? { header.firstIndex(of: name) }
    }

    /// An RFC 3339 time, with or without fractional seconds (as the HTTP API takes it).
    static func date(_ text: String) -> Date? {
        for strategy in [
            Date.ISO8601FormatStyle(includingFractionalSeconds: true), Date.ISO8601FormatStyle(includingFractionalSeconds: false),
        ] {
            if let date = try? Date(text, strategy: strategy) { return date }
        }
        return nil
    }

    static func parse(_ text: String) throws -> Table {
        var records: [[String]] = []
        var starts: [Int] = []
        var line = 1
        var recordStart = 1
        var field = ""
        var record: [String] = []
        var inQuotes = false
        var iterator = text.unicodeScalars.makeIterator()
        var pending: Unicode.Scalar? = nil
        func next() -> Unicode.Scalar? {
            if let scalar = pending { pending = nil; return scalar }
            return iterator.next()
        }
        while let scalar = next() {
            if scalar == "\n" { line += 1 }
            if inQuotes {
                if scalar == "\"" {
                    let following = next()
                    if following == "\"" { field.unicodeScalars.append("\"") } else { inQuotes = false; pending = following }
                } else {
                    field.unicodeScalars.append(scalar)
                }
                continue
            }
            switch scalar {
            case "\"": inQuotes = true
            case ",": record.append(field); field = ""
            case "\r": continue
            case "\n":
                record.append(field)
                records.append(record)
                starts.append(recordStart)
                recordStart = line
                record = []
                field = ""
            default: field.unicodeScalars.append(scalar)
            }
        }
        if inQuotes { throw ValidationFailure("the file ends inside a quoted field") }
        if !field.isEmpty || !record.isEmpty {
            record.append(field)
            records.append(record)
            starts.append(recordStart)
        }
        guard let header = records.first?.map({ $0.trimmingCharacters(in: .whitespaces) }) else {
            throw ValidationFailure("the file is empty; it needs a header row")
        }
        var rows: [[String]] = []
        var lines: [Int] = []
        for (row, start) in zip(records, starts).dropFirst() {
            if row == [""] { continue }
            guard row.count == header.count else {
                throw ValidationFailure("line \(start): \(row.count) fields where the header has \(header.count)")
            }
            rows.append(row.map { $0.trimmingCharacters(in: .whitespaces) })
            lines.append(start)
        }
        return Table(header: header, rows: rows, lines: lines)
    }
}

/// Progress on a terminal (standard error), silent when it is a file or a pipe.
enum Progress {
    static let isTerminal = isatty(STDERR_FILENO) == 1

    static func reporter(_ verb: String, unit: String, total: Int64? = nil) -> @Sendable (Int64) -> Void {
        { done in
            guard isTerminal else { return }
            let text = total.map { "\r\(verb) \(done)/\($0) \(unit)" } ?? "\r\(verb) \(done) \(unit)"
            FileHandle.standardError.write(Data(text.utf8))
        }
    }

    static func finish() {
        if isTerminal { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
