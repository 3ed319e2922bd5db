import Testing

@testable import OmnistockStore

@Suite struct RecordIdsTests {
    @Test func idsAreThePrefixAndThirtyTwoHexDigitsWithTheTimeFirst() {
        let id = RecordIds.make("hld_", nowMs: 0x0193_2A4B_5C6D)
        #expect(id.hasPrefix("hld_01932a4b5c6d"))
        #expect(id.count == 4 + 32)
        #expect(id.dropFirst(4).allSatisfy { "0123456789abcdef".contains($0) })
    }

    @Test func idsMadeLaterSortAfterAndIdsOfOneMillisecondDiffer() {
        let earlier = RecordIds.make("ord_", nowMs: 1_765_000_000_000)
        let later = RecordIds.make("ord_", nowMs: 1_765_000_000_001)
        #expect(earlier < later)
        let same = (0..<1_000).map { _ in RecordIds.make("ord_", nowMs: 1_765_000_000_000) }
        #expect(Set(same).count == same.count)
        // Now, from the wall clock: between two ids made around it.
        let now = RecordIds.make("trf_")
        #expect(now > earlier && now < RecordIds.make("trf_", nowMs: 1 << 47))
    }
}
