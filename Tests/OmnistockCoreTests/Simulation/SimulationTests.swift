import OmnistockCore
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The seeded simulation of the core, kept in the suite: for each seed, thousands of random
/// steps against the reference model, checked after every step. A failure names its seed and
/// step; `OMS_SIM_SEED=0x2A` adds a seed (decimal or hex; several separated by commas),
/// `OMS_SIM_STEPS=N` runs each seed longer.
@Suite struct SimulationTests {
    /// Fixed seeds, so the suite is the same run every time.
    static let fixedSeeds: [UInt64] = [0x1, 0x2A, 0xC0FFEE, 0x5EED_0B5E]
    /// Steps per seed by default: about a second per seed in a debug build (see the report line).
    static let stepsDefault = 2_500

    static func environment(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }

    static func parseSeed(_ text: String) -> UInt64? {
        let lowered = text.lowercased()
        return lowered.hasPrefix("0x") ? UInt64(lowered.dropFirst(2), radix: 16) : UInt64(lowered)
    }

    /// The fixed seeds, and those of `OMS_SIM_SEED` (one, or several separated by commas).
    static var seeds: [UInt64] {
        let extra = (environment("OMS_SIM_SEED") ?? "").split(separator: ",").compactMap { parseSeed(String($0)) }
        return fixedSeeds + extra.filter { !fixedSeeds.contains($0) }
    }

    static var steps: Int { environment("OMS_SIM_STEPS").flatMap { Int($0) }.map { max(1, $0) } ?? stepsDefault }

    static func summary(_ report: Simulation.Report, seconds: Double) -> String {
        let refusals = report.refused.values.reduce(0, +)
        let rate = seconds > 0 ? Int(Double(report.steps) / seconds) : 0
        let kinds = Set(report.accepted.keys).union(report.refused.keys).sorted()
            .map { "\($0) \(report.accepted[$0] ?? 0)/\(report.refused[$0] ?? 0)" }.joined(separator: ", ")
        let types = report.eventTypes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        return """
            simulation seed \(Simulation.hex(report.seed)): \(report.steps) steps, \(report.events) events, \(refusals) refused, \
            \(report.replays) replays, \(Int(seconds * 1000)) ms (\(rate) steps/s), ledger digest \(String(report.digest, radix: 16))
              steps accepted/refused: \(kinds)
              events: \(types)
            """
    }

    @Test(arguments: seeds)
    func theCoreHoldsUnderRandomSteps(seed: UInt64) {
        var simulation = Simulation(seed: seed)
        var report: Simulation.Report?
        let elapsed = ContinuousClock().measure { report = simulation.run(steps: Self.steps) }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print(Self.summary(report!, seconds: seconds))
        if let failure = report!.failure { Issue.record(Comment(rawValue: failure)) }
        // Every kind of step ran, and was both accepted and refused (or the run proves little).
        for kind in ["move", "count", "placeHold", "convertHold", "createOrder", "collect", "ship", "notFound", "receive", "dispatch"] {
            #expect((report!.accepted[kind] ?? 0) > 0, "seed \(Simulation.hex(seed)): no \(kind) was accepted")
        }
        for kind in ["move", "count", "placeHold", "extendHold", "convertHold", "createOrder", "ship", "dispatch", "receive", "return"] {
            #expect((report!.refused[kind] ?? 0) > 0, "seed \(Simulation.hex(seed)): no \(kind) was refused")
        }
    }

    @Test func oneSeedIsOneRun() {
        var first = Simulation(seed: 0x2A)
        var second = Simulation(seed: 0x2A)
        let (a, b) = (first.run(steps: 600), second.run(steps: 600))
        #expect(a.digest == b.digest && a.events == b.events)
        #expect(first.world.events == second.world.events)
    }

    @Test func aBrokenModelIsCaughtWithItsSeedAndStep() throws {
        // Receipts booked one unit too many: the first accepted receipt must be reported.
        var simulation = Simulation(seed: 0x2A, faultyModel: true)
        let failure = try #require(simulation.run(steps: 500).failure)
        #expect(failure.hasPrefix("simulation failed: seed 0x2A step "))
        #expect(failure.contains("OMS_SIM_SEED=0x2A"))
        #expect(failure.contains("the core has") && failure.contains("receipt"))
    }

    @Test func anEventTheRulesWouldNotDecideIsCaught() throws {
        // A hold placed behind the rules' back on stock that is not there: the model disagrees
        // and the oversell check fires.
        var simulation = Simulation(seed: 0x1)
        #expect(simulation.run(steps: 200).failure == nil)
        let problems = simulation.inject(
            .holdPlaced(
                HoldPlaced(
                    holdId: "ROGUE", reference: nil, fulfilment: nil, allowPartial: false,
                    lines: [HoldLine(id: "1", sku: "A", locationId: "S1", quantity: 1_000)], unfilled: [],
                    expiresAtMs: simulation.world.nowMs + 60_000, occurredAtMs: simulation.world.nowMs)))
        #expect(problems.contains { $0.hasPrefix("oversold: free stock at A@S1") })
        #expect(problems.contains { $0.hasPrefix("at A@S1 the core has") })
    }
}
