import OmnistockCore

/// A seeded, deterministic simulation of the core: random steps decided by the core, the
/// accepted events folded into its state, and after every step the state checked against its
/// invariants and a reference model, with a full replay of the ledger every so often.
struct Simulation {
    struct Report {
        var seed: UInt64
        var steps = 0
        var events = 0
        /// Per kind of step: accepted (recorded something or not) and refused.
        var accepted: [String: Int] = [:]
        var refused: [String: Int] = [:]
        var eventTypes: [String: Int] = [:]
        var replays = 0
        /// A digest of the ledger, to compare runs of one seed across processes.
        var digest: UInt64 = 0xCBF2_9CE4_8422_2325
        var failure: String?
    }

    /// How often the whole ledger is replayed from nothing and compared with the live state.
    static let replayIntervalSteps = 250
    /// When the simulated clock starts (2027-01-15).
    static let startMs: Int64 = 1_800_000_000_000

    var seed: UInt64
    var world = World(nowMs: startMs)
    var model = ReferenceModel()
    var generator: Generator
    var report: Report
    /// The latest steps, for the failure message.
    private var recentSteps: [String] = []

    init(seed: UInt64, faultyModel: Bool = false) {
        self.seed = seed
        generator = Generator(seed: seed)
        report = Report(seed: seed)
        model.faultyReceipts = faultyModel
    }

    static func hex(_ seed: UInt64) -> String { "0x" + String(seed, radix: 16, uppercase: true) }

    /// Runs `steps` steps, or until the first disagreement.
    mutating func run(steps: Int) -> Report {
        for number in 1...max(1, steps) {
            let step = generator.step(model, nowMs: world.nowMs)
            let problems = run(step)
            report.steps = number
            if !problems.isEmpty {
                report.failure =
                    "simulation failed: seed \(Self.hex(seed)) step \(number): \(step): " + problems.joined(separator: "; ")
                    + "\n  replay it with OMS_SIM_SEED=\(Self.hex(seed)) OMS_SIM_STEPS=\(number); the steps before it:\n    "
                    + recentSteps.joined(separator: "\n    ")
                return report
            }
            recentSteps = Array((recentSteps + ["\(number): \(step)"]).suffix(5))
            if number % Self.replayIntervalSteps == 0, let problem = replayCheck() {
                report.failure = "simulation failed: seed \(Self.hex(seed)) step \(number): replay: \(problem)"
                return report
            }
        }
        if let problem = replayCheck() { report.failure = "simulation failed: seed \(Self.hex(seed)) at the end: replay: \(problem)" }
        return report
    }

    /// One step: decided by the core, judged by the model, applied, checked.
    private mutating func run(_ step: Step) -> [String] {
        let nowMs = world.nowMs
        let before = world.state.effective(atMs: nowMs)
        let outcome = world.decide(step)
        tally(step, outcome)
        var next = model
        var problems = next.run(step, outcome, nowMs: nowMs)
        if !problems.isEmpty { return problems }
        if let trap = world.apply(step, outcome.events) { return ["the core's evolve would trap: \(trap)"] }
        model = next
        problems += invariants(step, before: before, events: outcome.events, nowMs: nowMs)
        problems += positionsAgree()
        problems += entitiesAgree(touchedBy: outcome.events)
        problems += liveAgrees()
        registerIds(outcome.events)
        return problems
    }

    /// The in-memory availability model, swept to the simulated clock, counts every position as
    /// the state does at that instant (expired holds out, recorded or not).
    private mutating func liveAgrees() -> [String] {
        _ = world.live.sweep(nowMs: world.nowMs)
        let expected = world.state.effective(atMs: world.nowMs)
        var problems: [String] = []
        for (key, position) in expected.sorted(by: { $0.key < $1.key }) {
            let counted = world.live.counted(key) ?? .empty
            if counted != position { problems.append("the availability model counts \(key.sku)@\(key.locationId) as \(counted), the state as \(position)") }
        }
        for key in world.live.allEntries().keys where expected[key] == nil && world.live.counted(key) != .empty {
            problems.append("the availability model has \(key.sku)@\(key.locationId), the state has not")
        }
        return Array(problems.prefix(5))
    }

    /// Applies an event the core did not decide and checks the state (for the test that proves
    /// the checks bite).
    mutating func inject(_ event: LedgerEvent) -> [String] {
        let step = Step.advance(milliseconds: 0)
        let before = world.state.effective(atMs: world.nowMs)
        if let trap = world.apply(step, [event]) { return [trap] }
        return invariants(step, before: before, events: [event], nowMs: world.nowMs) + positionsAgree()
    }

    private mutating func tally(_ step: Step, _ outcome: Outcome) {
        switch outcome {
        case .accepted: report.accepted[step.kind, default: 0] += 1
        case .refused, .recordedAndRefused: report.refused[step.kind, default: 0] += 1
        }
        for event in outcome.events {
            report.events += 1
            report.eventTypes[event.type, default: 0] += 1
            for byte
                in "\(event.type)|\(event.stream)|\(event.onHandDelta)|\(event.positionChanges.map { $0.held &+ 3 &* $0.allocated &+ 7 &* $0.incoming })"
                .utf8
            {
                report.digest = (report.digest ^ UInt64(byte)) &* 0x100_0000_01B3
            }
        }
    }

    private mutating func registerIds(_ events: [LedgerEvent]) {
        for event in events {
            if case .holdPlaced(let placed) = event { generator.holdIds.append(placed.holdId) }
            if case .order(let recorded) = event, recorded.step == .created { generator.orderIds.append(recorded.order.id) }
            if case .transfer(let recorded) = event, recorded.step == .dispatched { generator.transferIds.append(recorded.transfer.id) }
        }
    }

    /// Promised more than there is: on hand less what counts as held, allocated and kept back.
    static func free(_ position: StockPosition?, at locationId: String) -> Int64 {
        let p = position ?? .empty
        return p.onHand - p.held - p.allocated - p.effectiveSafetyStock(locationDefault: Estate.locations[locationId]?.safetyStockDefault ?? 0)
    }

    /// The rules that hold whatever happens. No bucket is negative. Nothing is sold twice: a
    /// step that is not a physical fact (a sale, a count) or a policy (safety stock) never takes
    /// what is free at a position below zero, nor lowers it when it already is. A position left
    /// promising more than it has is said out loud (`stock.short`).
    private func invariants(_ step: Step, before: [StockKey: StockPosition], events: [LedgerEvent], nowMs: Int64) -> [String] {
        var problems: [String] = []
        for (key, p) in world.state.positions where p.onHand < 0 || p.held < 0 || p.allocated < 0 || p.incoming < 0 {
            problems.append("a negative bucket at \(key.sku)@\(key.locationId): \(p)")
        }
        let after = world.state.effective(atMs: nowMs)
        let shortKeys = Set(events.compactMap { if case .positionShort = $0 { $0.stockKey } else { nil } })
        for key in Set(before.keys).union(after.keys) {
            let (was, now) = (Self.free(before[key], at: key.locationId), Self.free(after[key], at: key.locationId))
            if !step.isPhysical, now < was, now < 0 {
                problems.append("oversold: free stock at \(key.sku)@\(key.locationId) went from \(was) to \(now)")
            }
            if (after[key] ?? .empty).shortfall > (before[key] ?? .empty).shortfall, !shortKeys.contains(key) {
                problems.append("\(key.sku)@\(key.locationId) became short by \((after[key] ?? .empty).shortfall) and no stock.short says so")
            }
        }
        return problems
    }

    /// Every position of the core equals the reference model's.
    private func positionsAgree() -> [String] {
        var problems: [String] = []
        for key in Set(world.state.positions.keys).union(model.positions.keys).sorted() {
            let core = world.state.positions[key] ?? .empty
            let ref = model.position(key)
            let same =
                core.onHand == ref.onHand && core.held == ref.held && core.allocated == ref.allocated && core.incoming == ref.incoming
                && core.safetyStock == ref.safetyStock && core.lastCountedAtMs == ref.lastCountedAtMs
            if !same { problems.append("at \(key.sku)@\(key.locationId) the core has \(core), the model \(ref)") }
        }
        return problems
    }

    /// The holds, orders and transfers the events touched equal the model's.
    private func entitiesAgree(touchedBy events: [LedgerEvent]) -> [String] {
        var problems: [String] = []
        for event in events {
            switch event {
            case .holdPlaced, .holdExtended, .holdReleased, .holdExpired, .holdConverted:
                problems += holdAgrees(event.holdId!)
            case .order(let recorded):
                problems += model.disagreements(world.state.orders[recorded.order.id]!)
            case .transfer(let recorded):
                problems += transferAgrees(recorded.transfer.id)
            case .locationDefined, .stockMoved, .stockCounted, .countCorrected, .safetyStockSet, .positionShort:
                break
            }
        }
        return problems
    }

    private func holdAgrees(_ id: String) -> [String] {
        guard let hold = world.state.holds[id], let ref = model.holds[id] else {
            return ["hold \(id) is known to only one of the core and the model"]
        }
        if hold.recordedStatus != ref.status || hold.expiresAtMs != ref.expiresAtMs {
            return ["hold \(id) is \(hold.recordedStatus) until \(hold.expiresAtMs), the model says \(ref.status) until \(ref.expiresAtMs)"]
        }
        return []
    }

    private func transferAgrees(_ id: String) -> [String] {
        guard let transfer = world.state.transfers[id], let ref = model.transfers[id] else {
            return ["transfer \(id) is known to only one of the core and the model"]
        }
        return (transfer.status == .received) == ref.received ? [] : ["transfer \(id) is \(transfer.status), the model says received \(ref.received)"]
    }

    /// Replays the whole ledger from nothing: it must give the live state back, and every
    /// entity must still agree with the model.
    private mutating func replayCheck() -> String? {
        report.replays += 1
        let replayed = CoreState.replay(world.events)
        if replayed != world.state {
            let keys = Set(replayed.positions.keys).union(world.state.positions.keys).filter { replayed.positions[$0] != world.state.positions[$0] }
            return
                "replaying \(world.events.count) events does not give the live state (positions differ at \(keys.sorted().map { "\($0.sku)@\($0.locationId)" }))"
        }
        var problems: [String] = []
        for id in world.state.holds.keys.sorted() { problems += holdAgrees(id) }
        for id in world.state.orders.keys.sorted() { problems += model.disagreements(world.state.orders[id]!) }
        for id in world.state.transfers.keys.sorted() { problems += transferAgrees(id) }
        if model.orders.count != world.state.orders.count || model.holds.count != world.state.holds.count {
            problems.append(
                "the model has \(model.holds.count) holds and \(model.orders.count) orders, the core \(world.state.holds.count) and \(world.state.orders.count)"
            )
        }
        return problems.isEmpty ? nil : problems.prefix(3).joined(separator: "; ")
    }
}
