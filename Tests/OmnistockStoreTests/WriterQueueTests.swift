@testable import OmnistockStore
import Testing

/// The queue of the batching writers: depth, lanes, batch size, and subjects never shared by a
/// batch nor by two lanes at once.
@Suite struct WriterQueueTests {
    /// Items are "subject/n"; the subject before the slash is what they work on.
    static func queue(depthMax: Int = 10, batchMax: Int = 10, lanesMax: Int = 2) -> WriterQueue<String> {
        WriterQueue(depthMax: depthMax, batchMax: batchMax, lanesMax: lanesMax) { [String($0.split(separator: "/")[0])] }
    }

    @Test func lanesStartUpToTheLimitAndTheDepthIsBounded() {
        let queue = Self.queue(depthMax: 3, lanesMax: 2)
        #expect(queue.enqueue("a/1") == .startLane)
        #expect(queue.enqueue("b/1") == .startLane)
        #expect(queue.enqueue("c/1") == .queued)
        #expect(queue.enqueue("d/1") == .full)
        #expect(queue.count == 3)
    }

    @Test func aSubjectIsInOneBatchOfOneLaneAtATime() {
        let queue = Self.queue(batchMax: 10, lanesMax: 2)
        for item in ["a/1", "a/2", "b/1", "c/1", "b/2"] { _ = queue.enqueue(item) }
        // Lane 1 takes one request per subject; lane 2 finds only subjects lane 1 holds.
        let first = queue.next(after: [])
        #expect(first == ["a/1", "b/1", "c/1"])
        #expect(queue.next(after: []) == [])
        // Lane 1 finishes: the requests that waited go in its next batch, in arrival order.
        #expect(queue.next(after: first) == ["a/2", "b/2"])
    }

    @Test func batchesAreBoundedAndTheLastLaneStopsWhenNothingIsLeft() {
        let queue = Self.queue(batchMax: 2, lanesMax: 1)
        for item in ["a/1", "b/1", "c/1"] { _ = queue.enqueue(item) }
        let first = queue.next(after: [])
        #expect(first == ["a/1", "b/1"])
        let second = queue.next(after: first)
        #expect(second == ["c/1"])
        #expect(queue.next(after: second) == [])
        // The lane stopped, so the next request starts one again.
        #expect(queue.enqueue("d/1") == .startLane)
    }
}
