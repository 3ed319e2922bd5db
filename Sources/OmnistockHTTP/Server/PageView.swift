/// A page of a listing; `nextCursor` is absent on the last page.
struct PageView<Item: Codable & Sendable>: Codable, Sendable {
    var items: [Item]
    var nextCursor: String?
}
