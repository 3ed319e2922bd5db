import Foundation
import OmnistockHTTP
import Testing

/// The OpenAPI document's own shape, checked without a server: the cheap guard in front of the
/// schemathesis campaign (scripts/schemathesis.py), which finds the same faults in minutes.
@Suite struct OpenAPIDocumentTests {
    @Test func theDocumentParsesAndEveryReferenceResolves() throws {
        let document = try OpenAPITree.shipped()
        #expect(document.root["openapi"]?.text == "3.1.0")
        #expect((document.root["paths"]?.entries.count ?? 0) > 20)
        let unresolved = document.references().filter { document.resolve($0) == nil }
        #expect(unresolved.isEmpty, "references to nothing: \(unresolved)")
    }

    /// An `allOf` member that forbids additional properties forbids the other members' ones
    /// too, so no value can match (a `Location` answer failed every validator this way).
    @Test func noAllOfMemberForbidsAdditionalProperties() throws {
        let document = try OpenAPITree.shipped()
        var faults: [String] = []
        for (path, members) in document.allOfs() {
            for (index, member) in members.enumerated() {
                let schema = member["$ref"].flatMap { $0.text }.flatMap(document.resolve) ?? member
                if schema["additionalProperties"]?.text == "false" { faults.append("\(path)/allOf/\(index)") }
            }
        }
        #expect(faults.isEmpty, "allOf members with additionalProperties: false: \(faults)")
    }

    /// Every operation says what a malformed (400), oversized (413) or non-JSON (415) body
    /// gets, since every route reads its body or refuses one, and every `/v1` operation what a
    /// database outage gets (503 with Retry-After).
    @Test func bodyAndOutageAnswersAreDocumentedOnEveryOperation() throws {
        let document = try OpenAPITree.shipped()
        var faults: [String] = []
        for (path, method, operation) in document.operations() {
            let statuses = Set(operation["responses"]?.entries.map(\.key) ?? [])
            faults += ["400", "413", "415"].filter { !statuses.contains($0) }.map { "\(method) \(path): no \($0)" }
            if path.hasPrefix("/v1/"), !statuses.contains("503") { faults.append("\(method) \(path): no 503") }
        }
        #expect(faults.isEmpty, "\(faults)")
    }

    /// The documented Idempotency-Key is the one the server checks: 1 to 255 of `!`…`~`.
    @Test func theIdempotencyKeyIsDocumentedAsTheServerChecksIt() throws {
        let document = try OpenAPITree.shipped()
        let schema = document.resolve("#/components/parameters/IdempotencyKey")?["schema"]
        #expect(schema?["pattern"]?.text == "^[!-~]{1,255}$")
        #expect(schema?["maxLength"]?.text == "255")
    }
}

/// A YAML node of the subset the OpenAPI document is written in: block mappings and
/// sequences, flow collections on one line, plain and quoted scalars, and `|` block scalars.
indirect enum YAMLNode {
    case scalar(String)
    case mapping([(key: String, value: YAMLNode)])
    case sequence([YAMLNode])

    subscript(key: String) -> YAMLNode? {
        switch self {
        case .mapping(let entries): entries.first { $0.key == key }?.value
        case .scalar, .sequence: nil
        }
    }

    var entries: [(key: String, value: YAMLNode)] {
        switch self {
        case .mapping(let entries): entries
        case .scalar, .sequence: []
        }
    }

    var items: [YAMLNode] {
        switch self {
        case .sequence(let items): items
        case .scalar, .mapping: []
        }
    }

    var text: String? {
        switch self {
        case .scalar(let text): text
        case .mapping, .sequence: nil
        }
    }
}

struct YAMLSubsetError: Error, CustomStringConvertible {
    var description: String
}

/// The document as a tree, with the walks the tests need.
struct OpenAPITree {
    let root: YAMLNode

    init(_ text: String) throws {
        var parser = YAMLSubsetParser(text)
        root = try parser.parseDocument()
    }

    /// The document this build ships, or the file `OMS_TEST_OPENAPI_PATH` names (to check
    /// another version of it, an older one for instance, with the same tests).
    static func shipped() throws -> OpenAPITree {
        if let path = ProcessInfo.processInfo.environment["OMS_TEST_OPENAPI_PATH"] {
            return try OpenAPITree(try String(contentsOfFile: path, encoding: .utf8))
        }
        return try OpenAPITree(try OpenAPIDocument.text())
    }

    /// A local `$ref` (`#/components/schemas/Location`) followed to its node.
    func resolve(_ reference: String) -> YAMLNode? {
        guard reference.hasPrefix("#/") else { return nil }
        var node: YAMLNode? = root
        for part in reference.dropFirst(2).split(separator: "/") {
            node = node?[part.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")]
        }
        return node
    }

    /// Every `$ref` value in the document.
    func references() -> [String] {
        var found: [String] = []
        walk(root, path: "#") { node, _ in
            if let reference = node["$ref"]?.text { found.append(reference) }
        }
        return found
    }

    /// Every `allOf`, by where it is, with its members.
    func allOfs() -> [(path: String, members: [YAMLNode])] {
        var found: [(path: String, members: [YAMLNode])] = []
        walk(root, path: "#") { node, path in
            if let allOf = node["allOf"] { found.append((path: path, members: allOf.items)) }
        }
        return found
    }

    /// Every operation: its path, method and node.
    func operations() -> [(path: String, method: String, operation: YAMLNode)] {
        let methods: Set<String> = ["get", "put", "post", "delete", "patch"]
        return (root["paths"]?.entries ?? []).flatMap { path, item in
            item.entries.filter { methods.contains($0.key) }.map { (path: path, method: $0.key.uppercased(), operation: $0.value) }
        }
    }

    private func walk(_ node: YAMLNode, path: String, _ visit: (YAMLNode, String) -> Void) {
        visit(node, path)
        switch node {
        case .mapping(let entries):
            for (key, value) in entries { walk(value, path: path + "/" + key, visit) }
        case .sequence(let items):
            for (index, item) in items.enumerated() { walk(item, path: path + "/\(index)", visit) }
        case .scalar:
            break
        }
    }
}

/// Parses the block structure by indentation; each line's value is parsed by `FlowParser`.
struct YAMLSubsetParser {
    struct Line {
        var indent: Int
        var text: String
        var number: Int
    }
    private var lines: [Line] = []
    private let raw: [Substring]
    private var index = 0

    init(_ text: String) {
        raw = text.split(separator: "\n", omittingEmptySubsequences: false)
        for (number, line) in raw.enumerated() {
            let body = line.drop { $0 == " " }
            if body.isEmpty || body.hasPrefix("#") { continue }
            lines.append(Line(indent: line.count - body.count, text: String(body), number: number))
        }
    }

    mutating func parseDocument() throws -> YAMLNode {
        let node = try parseBlock(indent: 0)
        guard index == lines.count else { throw YAMLSubsetError(description: "line \(lines[index].number + 1): unexpected indentation") }
        return node
    }

    private mutating func parseBlock(indent: Int) throws -> YAMLNode {
        guard index < lines.count else { return .scalar("") }
        return Self.isItem(lines[index].text) ? try parseSequence(indent: indent) : try parseMapping(indent: indent)
    }

    private static func isItem(_ text: String) -> Bool { text == "-" || text.hasPrefix("- ") }

    private mutating func parseMapping(indent: Int) throws -> YAMLNode {
        var entries: [(key: String, value: YAMLNode)] = []
        while index < lines.count, lines[index].indent == indent, !Self.isItem(lines[index].text) {
            let line = lines[index]
            guard let (key, rest) = FlowParser.splitKey(line.text) else {
                throw YAMLSubsetError(description: "line \(line.number + 1): expected 'key: value'")
            }
            index += 1
            entries.append((key, try parseValue(rest, line: line)))
        }
        return .mapping(entries)
    }

    /// The value after `key:`: inline, a block scalar, or a nested block (a sequence may sit
    /// at the key's own indentation).
    private mutating func parseValue(_ rest: String, line: Line) throws -> YAMLNode {
        if rest == "|" || rest == "|-" || rest == ">" { return blockScalar(after: line) }
        if !rest.isEmpty { return try FlowParser.parse(rest, line: line.number + 1) }
        guard index < lines.count else { return .scalar("") }
        let next = lines[index]
        if next.indent > line.indent { return try parseBlock(indent: next.indent) }
        if next.indent == line.indent, Self.isItem(next.text) { return try parseSequence(indent: line.indent) }
        return .scalar("")
    }

    private mutating func parseSequence(indent: Int) throws -> YAMLNode {
        var items: [YAMLNode] = []
        while index < lines.count, lines[index].indent == indent, Self.isItem(lines[index].text) {
            let line = lines[index]
            let rest = String(line.text.dropFirst(line.text == "-" ? 1 : 2))
            if rest.isEmpty {
                index += 1
                items.append(try parseBlock(indent: index < lines.count ? lines[index].indent : indent + 2))
            } else if !rest.hasPrefix("{"), !rest.hasPrefix("["), FlowParser.splitKey(rest) != nil {
                // `- key: value` opens a mapping whose keys line up with `key`.
                lines[index] = Line(indent: indent + 2, text: rest, number: line.number)
                items.append(try parseMapping(indent: indent + 2))
            } else {
                index += 1
                items.append(try FlowParser.parse(rest, line: line.number + 1))
            }
        }
        return .sequence(items)
    }

    /// A `|` scalar: the following lines indented deeper than its key (blank ones included).
    private mutating func blockScalar(after line: Line) -> YAMLNode {
        var text: [Substring] = []
        var number = line.number + 1
        while number < raw.count {
            let body = raw[number].drop { $0 == " " }
            if !body.isEmpty, raw[number].count - body.count <= line.indent { break }
            text.append(raw[number])
            number += 1
        }
        while index < lines.count, lines[index].number < number { index += 1 }
        return .scalar(text.map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: "\n"))
    }
}

/// One-line values: flow mappings and sequences, quoted and plain scalars.
struct FlowParser {
    private let characters: [Character]
    private var position = 0
    private let line: Int

    static func parse(_ text: String, line: Int) throws -> YAMLNode {
        var parser = FlowParser(characters: Array(text), line: line)
        let node = try parser.value(inFlow: false)
        parser.skipSpaces()
        guard parser.position == parser.characters.count else { throw parser.fault("trailing characters") }
        return node
    }

    /// `key: rest` split at the first `:` followed by a space or the end, outside quotes.
    static func splitKey(_ text: String) -> (String, String)? {
        let characters = Array(text)
        var quote: Character?
        for (offset, character) in characters.enumerated() {
            if let open = quote {
                if character == open { quote = nil }
                continue
            }
            if offset == 0, character == "'" || character == "\"" { quote = character; continue }
            guard character == ":", offset + 1 == characters.count || characters[offset + 1] == " " else { continue }
            let key = String(characters[..<offset]).trimmingCharacters(in: .whitespaces)
            let rest = String(characters[(offset + 1)...]).trimmingCharacters(in: .whitespaces)
            return (unquote(key), rest)
        }
        return nil
    }

    private static func unquote(_ key: String) -> String {
        guard key.count >= 2, let first = key.first, first == "'" || first == "\"", key.last == first else { return key }
        return String(key.dropFirst().dropLast()).replacingOccurrences(of: "''", with: "'")
    }

    private init(characters: [Character], line: Int) {
        self.characters = characters
        self.line = line
    }

    private func fault(_ what: String) -> YAMLSubsetError {
        YAMLSubsetError(description: "line \(line), column \(position + 1): \(what)")
    }

    private mutating func skipSpaces() {
        while position < characters.count, characters[position] == " " { position += 1 }
    }

    private mutating func value(inFlow: Bool) throws -> YAMLNode {
        skipSpaces()
        guard position < characters.count else { return .scalar("") }
        switch characters[position] {
        case "{": return try collection(close: "}")
        case "[": return try collection(close: "]")
        case "'", "\"": return .scalar(try quoted())
        default: return .scalar(plain(inFlow: inFlow))
        }
    }

    /// A flow mapping (`close` is `}`) or sequence (`]`).
    private mutating func collection(close: Character) throws -> YAMLNode {
        position += 1
        var entries: [(key: String, value: YAMLNode)] = []
        var items: [YAMLNode] = []
        while true {
            skipSpaces()
            guard position < characters.count else { throw fault("unclosed \(close == "}" ? "{" : "[")") }
            if characters[position] == close { position += 1; break }
            if close == "}" {
                guard case .scalar(let key) = try value(inFlow: true), position < characters.count, characters[position] == ":" else {
                    throw fault("expected 'key: value'")
                }
                position += 1
                entries.append((key, try value(inFlow: true)))
            } else {
                items.append(try value(inFlow: true))
            }
            skipSpaces()
            if position < characters.count, characters[position] == "," { position += 1 }
        }
        return close == "}" ? .mapping(entries) : .sequence(items)
    }

    private mutating func quoted() throws -> String {
        let open = characters[position]
        position += 1
        var text = ""
        while position < characters.count {
            let character = characters[position]
            position += 1
            if open == "'", character == "'" {
                guard position < characters.count, characters[position] == "'" else { return text }
                position += 1
            } else if open == "\"", character == "\"" {
                return text
            } else if open == "\"", character == "\\", position < characters.count {
                text.append(characters[position])
                position += 1
                continue
            }
            text.append(character)
        }
        throw fault("unclosed quote")
    }

    /// A plain scalar; in a flow collection it ends at `,`, `]`, `}` or a key's `: `.
    private mutating func plain(inFlow: Bool) -> String {
        let start = position
        while position < characters.count {
            let character = characters[position]
            if inFlow, character == "," || character == "]" || character == "}" { break }
            if inFlow, character == ":", position + 1 == characters.count || characters[position + 1] == " " { break }
            position += 1
        }
        return String(characters[start..<position]).trimmingCharacters(in: .whitespaces)
    }
}
