import Foundation
import NIOCore
import OmnistockCore
import OmnistockStore

/// What a delivery loop knows of its subscription between two writes of its progress.
struct LoopState {
    let target: DeliveryTarget
    let host: String
    var cursor: Int64
    var failedAttempts: Int
    var nextAttemptAt: Date?
    var disabled: WebhookDisabledReason?
    /// Attempts not yet written, and whether the cursor moved since the last write.
    var attempts: [DeliveryRecord] = []
    var moved = false
    var lastWrite = ContinuousClock.now
    /// When the target's host was last found public (checked again after a minute).
    var targetCheckedAt: ContinuousClock.Instant?
    /// The store's count of API changes when the target was read, and when it was read.
    var changesSeen: Int
    var readAt = ContinuousClock.now

    init(_ target: DeliveryTarget, changes: Int) {
        self.changesSeen = changes
        self.target = target
        self.host = URL(string: target.url)?.host ?? ""
        self.cursor = target.cursor
        self.failedAttempts = target.failedAttempts
        self.nextAttemptAt = target.nextAttemptAt
    }

    var writeIsDue: Bool {
        attempts.count >= Limits.webhookProgressBatchMax
            || ((moved || !attempts.isEmpty) && ContinuousClock.now - lastWrite >= .milliseconds(Limits.webhookProgressFlushMilliseconds))
    }
}

/// What came of an event for the loop.
enum EventStep {
    /// Delivered or passed over: on to the next.
    case next
    /// Failed: the next attempt waits for `nextAttemptAt`.
    case wait
    /// The loop ends (disabled, lease lost, cancelled).
    case stop
}

extension WebhookDispatcher {
    /// Delivers one subscription until it is disabled, its lease or generation is lost, or the
    /// loop is cancelled: the events after its cursor, one at a time, in ledger order.
    func deliver(id: String, generation: Int64, token: Int) async {
        let (waiter, wakes) = window.waiter()
        defer {
            window.leave(waiter)
            ended(id: id, token: token)
        }
        let changes = store.changes
        guard let target = try? await store.target(id: id, owner: owner, on: database), target.generation == generation else { return }
        var state = LoopState(target, changes: changes)
        observer?.lag(subscription: id, events: max(0, (window.head ?? state.cursor) - state.cursor))
        var wake = wakes.makeAsyncIterator()
        while !Task.isCancelled {
            if let next = state.nextAttemptAt, next > Date() {
                guard await write(&state) else { return }
                try? await Task.sleep(for: .milliseconds(Int64(next.timeIntervalSinceNow * 1_000) + 1))
                continue
            }
            let batch: (events: [RecordedEvent], through: Int64)
            do {
                batch = try await events(after: state.cursor, filter: target.filter)
            } catch {
                try? await Task.sleep(for: .seconds(1))
                continue
            }
            if batch.events.isEmpty {
                if batch.through > state.cursor {
                    state.cursor = batch.through
                    state.moved = true
                    continue
                }
                guard await write(&state) else { return }
                _ = await wake.next()
                continue
            }
            switch await attempt(batch.events, &state) {
            case .stop:
                await finalWrite(state)
                return
            case .wait:
                // A failure is written at once: the attempt count and the next attempt's time
                // survive this instance, and the log shows it while the receiver is down.
                guard await write(&state) else { return }
                continue
            case .next:
                break
            }
            if state.nextAttemptAt == nil, batch.through > state.cursor, let last = batch.events.last, state.cursor >= last.position {
                state.cursor = batch.through
                state.moved = true
            }
            if state.writeIsDue { guard await write(&state) else { return } }
        }
        await finalWrite(state)
    }

    /// The last write of a loop that stops, made outside its task: a loop stopped by a shutdown
    /// or a lease round is cancelled, and its progress (up to 200 ms of deliveries) is worth
    /// writing rather than sending again.
    func finalWrite(_ state: LoopState) async {
        _ = await Task {
            var last = state
            return await self.write(&last)
        }.value
    }

    /// The events after `cursor` and how far they reach: from the window when it holds them,
    /// else from the ledger (filtered there, `through` then being how far it scanned).
    func events(after cursor: Int64, filter: WebhookFilter) async throws -> (events: [RecordedEvent], through: Int64) {
        switch window.read(after: cursor, limit: Limits.webhookPageEventsMax) {
        case .events(let events):
            return (events, events.last?.position ?? cursor)
        case .behind:
            let page = try await self.events.read(
                after: cursor, limit: Limits.webhookPageEventsMax, types: filter.eventTypes.map { $0.sorted() },
                locations: filter.scope.sortedIds, on: database)
            return (page.events, page.nextAfter)
        }
    }

    /// Delivers the events of a batch in order, until one fails (`wait`) or the loop must end.
    func attempt(_ batch: [RecordedEvent], _ state: inout LoopState) async -> EventStep {
        for event in batch {
            if Task.isCancelled { return .stop }
            let step = await attempt(event, &state)
            switch step {
            case .next:
                if state.writeIsDue, !(await write(&state)) { return .stop }
            case .wait, .stop:
                return step
            }
        }
        return .next
    }

    /// Delivers one event (or passes over one the subscription does not want).
    func attempt(_ event: RecordedEvent, _ state: inout LoopState) async -> EventStep {
        // A redelivery read from the ledger may overlap what the window gave: older ones are passed.
        guard event.position > state.cursor else { return .next }
        let body: [UInt8]?
        do {
            body = state.target.filter.wants(type: event.type, locationIds: event.locationIds) ? try render(event, state.target.filter.scope) : nil
        } catch {
            // An event the ledger holds but this build cannot read: retried on the schedule, so
            // an operator sees it in the log rather than have it skipped.
            return failed(event, &state, SendResult(statusCode: nil, retryAfterSeconds: nil, error: "the event could not be rendered: \(error)", seconds: 0), .retrying)
        }
        guard let body else {
            state.cursor = event.position
            state.moved = true
            return .next
        }
        if let refusal = await refusedTarget(&state) {
            return failed(event, &state, SendResult(statusCode: nil, retryAfterSeconds: nil, error: refusal, seconds: 0), .refusedTarget)
        }
        guard let remaining = leaseRemaining(), await isCurrent(&state) else { return .stop }
        let timeout = min(remaining, .seconds(Limits.webhookTimeoutSeconds))
        let result = await sender.send(
            url: state.target.url, webhookId: "evt_\(event.position)", timestamp: Int64(Date().timeIntervalSince1970), body: body,
            secrets: state.target.secrets(at: Date()), timeout: timeout)
        // Cut short by this instance (a shutdown, a stopped loop), not failed by the receiver.
        if Task.isCancelled && result.statusCode == nil { return .stop }
        let outcome = DeliveryOutcome.of(statusCode: result.statusCode)
        observer?.attempted(subscription: state.target.id, outcome: outcome, seconds: result.seconds)
        switch outcome {
        case .delivered:
            state.attempts.append(record(event, state, outcome, result, nextRetryAt: nil))
            state.cursor = event.position
            state.failedAttempts = 0
            state.nextAttemptAt = nil
            state.moved = true
            return .next
        case .gone:
            state.attempts.append(record(event, state, outcome, result, nextRetryAt: nil))
            state.disabled = .gone
            return .stop
        case .retrying, .rejected, .refusedTarget:
            return failed(event, &state, result, outcome)
        }
    }

    /// A failed attempt: the next one is scheduled, or the subscription disabled when the
    /// schedule is spent.
    func failed(_ event: RecordedEvent, _ state: inout LoopState, _ result: SendResult, _ outcome: DeliveryOutcome) -> EventStep {
        let failures = state.failedAttempts + 1
        let delay = settings.schedule.delayMilliseconds(
            afterFailures: failures, retryAfterSeconds: result.retryAfterSeconds, jitter: Double.random(in: 0...1))
        let next = delay.map { Date().addingTimeInterval(Double($0) / 1_000) }
        state.attempts.append(record(event, state, outcome, result, nextRetryAt: next))
        state.failedAttempts = failures
        state.nextAttemptAt = next
        if next == nil {
            state.disabled = .retriesExhausted
            return .stop
        }
        return .wait
    }

    func record(_ event: RecordedEvent, _ state: LoopState, _ outcome: DeliveryOutcome, _ result: SendResult, nextRetryAt: Date?) -> DeliveryRecord {
        DeliveryRecord(
            position: event.position, attempt: state.failedAttempts + 1, outcome: outcome, statusCode: result.statusCode,
            durationMilliseconds: result.seconds * 1_000, error: result.error.map { String($0.prefix(Limits.webhookErrorLengthMax)) },
            nextRetryAt: nextRetryAt, attemptedAt: Date())
    }

    /// Whether the loop's subscription is as it read it. After a change made through this
    /// instance's API (one atomic load tells), and otherwise at most a second apart (a change
    /// made through another instance), it reads the row again: a newer generation (a rotation, a
    /// redelivery, a resume) or a row gone (deleted, disabled, its lease lost) ends the loop
    /// before it sends with a stale secret or cursor, and the lease round that follows starts it
    /// again. One read a second per subscription, however fast it delivers.
    func isCurrent(_ state: inout LoopState) async -> Bool {
        let changes = store.changes
        guard changes != state.changesSeen || ContinuousClock.now - state.readAt >= .seconds(1) else { return true }
        let target: DeliveryTarget?
        do {
            target = try await store.target(id: state.target.id, owner: owner, on: database)
        } catch {
            // The database is busy or away: the row is read again next time, and meanwhile the
            // lease (which no change can take from under the loop) still bounds what it sends.
            return true
        }
        state.changesSeen = changes
        state.readAt = .now
        return target?.generation == state.target.generation
    }

    /// Why the target may not be reached now, or nil; a public host is trusted for a minute.
    func refusedTarget(_ state: inout LoopState) async -> String? {
        if settings.allowPrivateTargets { return nil }
        if let checked = state.targetCheckedAt, ContinuousClock.now - checked < .seconds(60) { return nil }
        switch await resolver.check(host: state.host) {
        case .allowed:
            state.targetCheckedAt = .now
            return nil
        case .refused(let rejection):
            return rejection.detail
        }
    }

    /// Writes the loop's progress; false when the lease or generation is lost (or the database
    /// stayed away while the lease lasted), which ends the loop: what it delivered since its last
    /// write is delivered again by whoever holds the lease next.
    func write(_ state: inout LoopState) async -> Bool {
        guard state.moved || !state.attempts.isEmpty || state.disabled != nil else { return true }
        let progress = DeliveryProgress(
            cursor: state.cursor, failedAttempts: state.failedAttempts, nextAttemptAt: state.nextAttemptAt, disabled: state.disabled,
            attempts: state.attempts)
        // Tried again while the lease lasts (a pool busy for a moment must not end the loop and
        // send its deliveries again), then given up.
        for retry in 0..<Limits.webhookProgressWriteAttemptsMax {
            if retry > 0, leaseRemaining() == nil { return false }
            do {
                let written = try await store.record(progress, id: state.target.id, owner: owner, generation: state.target.generation, on: database)
                guard written else { return false }
                state.attempts = []
                state.moved = false
                state.lastWrite = .now
                observer?.lag(subscription: state.target.id, events: max(0, (window.head ?? state.cursor) - state.cursor))
                return state.disabled == nil
            } catch {
                logger.log(
                    level: retry == 0 ? .warning : .debug, "a webhook's progress could not be written",
                    metadata: ["webhook": "\(state.target.id)", "error": "\(error)", "try": "\(retry + 1)"])
                try? await Task.sleep(for: .milliseconds(min(1_000, 100 * (retry + 1))))
            }
        }
        return false
    }
}
