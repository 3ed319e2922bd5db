import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOHTTPTypesHTTP1
@testable import OmnistockHTTP
import OmnistockCore
import Testing

/// The connection timeouts on the HTTP/1.1 pipeline Hummingbird builds (the NIO decoder and
/// encoder, the HTTP types codec, then ours), on an embedded channel whose clock the test moves:
/// bytes go in as a client would send them, and what comes out is what the client would read.
@Suite struct ConnectionTimeoutTests {
    static let timeouts = ConnectionTimeouts(idleSeconds: 5, headerSeconds: 2, bodySeconds: 3)

    /// A connection as `oms serve` builds it, with nobody answering its requests.
    final class Connection {
        let channel = EmbeddedChannel()
        var loop: EmbeddedEventLoop { channel.embeddedEventLoop }

        init() throws {
            // As `HTTP1Channel.setup` does, without the async channel at the end: nobody reads
            // the requests, which stay in the embedded channel's inbound buffer.
            let pipeline = channel.pipeline.syncOperations
            try pipeline.configureHTTPServerPipeline(withPipeliningAssistance: false, withErrorHandling: false)
            try pipeline.addHandler(HTTP1ToHTTPServerCodec(secure: false))
            try pipeline.addHandler(ConnectionTimeoutHandler(timeouts: ConnectionTimeoutTests.timeouts))
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 8080)).wait()
        }

        func send(_ text: String) throws {
            try channel.writeInbound(ByteBuffer(string: text))
        }

        func wait(_ seconds: Double) {
            loop.advanceTime(by: .milliseconds(Int64(seconds * 1000)))
        }

        /// Everything written to the client so far.
        func received() throws -> String {
            var text = ""
            while let data = try channel.readOutbound(as: IOData.self) {
                switch data {
                case .byteBuffer(let buffer): text += String(buffer: buffer)
                case .fileRegion: Issue.record("a file region was written")
                }
            }
            return text
        }

        var isOpen: Bool { channel.isActive }
    }

    @Test func anIdleConnectionIsClosedAtTheIdleTimeoutWithoutAWord() throws {
        let connection = try Connection()
        connection.wait(4.9)
        #expect(connection.isOpen)
        connection.wait(0.2)
        #expect(!connection.isOpen)
        #expect(try connection.received() == "")
    }

    @Test func aHeadSentAByteAtATimeIsAnswered408AtTheHeaderTimeout() throws {
        let connection = try Connection()
        // Two bytes a second: each one would renew a timer that counts from the last read.
        for byte in "GET /health HTTP/1.1\r\nHost: oms\r\nX-Slow: a".prefix(3) {
            try connection.send(String(byte))
            connection.wait(0.5)
        }
        connection.wait(0.4)
        #expect(connection.isOpen)
        connection.wait(0.2)
        #expect(!connection.isOpen)
        let answer = try connection.received()
        #expect(answer.hasPrefix("HTTP/1.1 408 Request Timeout\r\n"))
        #expect(answer.contains("application/problem+json"))
        #expect(answer.contains("https://omnistock.dev/problems/request-timeout"))
    }

    @Test func aBodyThatStopsShortIsAnswered408AtTheBodyTimeout() throws {
        let connection = try Connection()
        try connection.send("POST /v1/stock/movements HTTP/1.1\r\nHost: oms\r\nContent-Length: 100\r\n\r\n{")
        // A byte a second keeps arriving, but the whole body is due 3 s after the head.
        for _ in 0..<2 {
            connection.wait(1)
            try connection.send(" ")
        }
        connection.wait(0.9)
        #expect(connection.isOpen)
        connection.wait(0.2)
        #expect(!connection.isOpen)
        #expect(try connection.received().hasPrefix("HTTP/1.1 408 Request Timeout\r\n"))
    }

    @Test func noTimeoutRunsWhileARequestReadWholeWaitsForItsAnswer() throws {
        let connection = try Connection()
        try connection.send("GET /v1/events HTTP/1.1\r\nHost: oms\r\n\r\n")
        // Nobody answers: the client waits for us, and bounding our own time is not this
        // timer's job (the database has its own timeouts).
        connection.wait(60)
        #expect(connection.isOpen)
        #expect(try connection.received() == "")
    }

    @Test func theHeaderTimeoutCountsFromTheFirstByteNotFromTheOpening() throws {
        let connection = try Connection()
        connection.wait(4)
        try connection.send("GET /health HTTP/1.1\r\n")
        connection.wait(1.9)
        #expect(connection.isOpen)
        connection.wait(0.2)
        #expect(!connection.isOpen)
        #expect(try connection.received().hasPrefix("HTTP/1.1 408"))
    }

    @Test func theStepsOfAKeptAliveConnectionRunTheirOwnTimers() {
        var state = ConnectionTimeoutState()
        #expect(state.opened() == .start(.idle))
        #expect(state.bytesArrived() == .start(.head))
        #expect(state.bytesArrived() == .keep)
        #expect(state.headRead() == .start(.body))
        #expect(state.endRead() == .stop)
        #expect(state.phase == .responding)
        // A pipelined request begins while we answer: its head timer starts with the answer's end.
        #expect(state.bytesArrived() == .keep)
        state.answerHeadWritten(.ok)
        #expect(state.answerEndWritten() == .start(.head))
        #expect(state.expired(.idle) == .ignore)
        #expect(state.expired(.head) == .answerThenClose)
        #expect(state.phase == .closed)
    }

    @Test func aBodyAnsweredEarlyIsClosedWithoutA408() {
        var state = ConnectionTimeoutState()
        _ = state.opened()
        _ = state.bytesArrived()
        _ = state.headRead()
        // A refusal (401, 413) is written before the body has arrived.
        state.answerHeadWritten(.unauthorized)
        #expect(state.answerEndWritten() == .keep)
        #expect(state.phase == .body)
        #expect(state.expired(.body) == .close)
    }

    @Test func aBodyThatEndsAfterAnEarlyAnswerLeavesTheConnectionIdle() {
        var state = ConnectionTimeoutState()
        _ = state.opened()
        _ = state.bytesArrived()
        _ = state.headRead()
        state.answerHeadWritten(.contentTooLarge)
        _ = state.answerEndWritten()
        #expect(state.endRead() == .start(.idle))
        #expect(state.expired(.body) == .ignore)
    }

    @Test func informationalAnswersDoNotStopA408() {
        var state = ConnectionTimeoutState()
        _ = state.opened()
        _ = state.bytesArrived()
        _ = state.headRead()
        state.answerHeadWritten(.continue)
        #expect(state.expired(.body) == .answerThenClose)
    }

    @Test func theDefaultConnectionLimitIsLoweredToWhatTheDescriptorsAllow() throws {
        let roomy = try ConnectionBudget.resolve(requested: 10_000, chosen: false, descriptorLimit: 20_000, poolSize: 16).get()
        #expect(roomy == ConnectionBudget(limit: 10_000, descriptorLimit: 20_000, lowered: false))
        let tight = try ConnectionBudget.resolve(requested: 10_000, chosen: false, descriptorLimit: 2_048, poolSize: 16).get()
        #expect(tight.limit == 2_048 - 16 - Limits.descriptorsReservedCount)
        #expect(tight.lowered)
    }

    @Test func aChosenConnectionLimitThatDoesNotFitIsRefused() {
        let chosen = ConnectionBudget.resolve(requested: 5_000, chosen: true, descriptorLimit: 2_048, poolSize: 16)
        guard case .failure(let refusal) = chosen else {
            Issue.record("a limit above the descriptors was accepted: \(chosen)")
            return
        }
        #expect(refusal.description.contains("oms.http.connection.limit 5000 does not fit"))
        #expect(refusal.description.contains("ulimit -n is 2048"))
        let none = ConnectionBudget.resolve(requested: 10, chosen: false, descriptorLimit: 100, poolSize: 16)
        guard case .failure(let tooFew) = none else {
            Issue.record("a descriptor limit below the reserve was accepted: \(none)")
            return
        }
        #expect(tooFew.description.contains("too few file descriptors"))
    }
}
