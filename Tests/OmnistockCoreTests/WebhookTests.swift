import OmnistockCore
import Testing

/// The pure rules of webhooks: what an answer means, when the next attempt comes, which
/// addresses may be targets, and what a subscription may ask for.
@Suite struct WebhookRuleTests {
    @Test func answersMeanWhatStandardWebhooksSays() {
        #expect(DeliveryOutcome.of(statusCode: 200) == .delivered)
        #expect(DeliveryOutcome.of(statusCode: 204) == .delivered)
        #expect(DeliveryOutcome.of(statusCode: 299) == .delivered)
        #expect(DeliveryOutcome.of(statusCode: nil) == .retrying)
        for code in [408, 429, 500, 502, 503, 599] { #expect(DeliveryOutcome.of(statusCode: code) == .retrying, "\(code)") }
        for code in [301, 302, 307, 400, 401, 403, 404, 409, 422, 100] { #expect(DeliveryOutcome.of(statusCode: code) == .rejected, "\(code)") }
        #expect(DeliveryOutcome.of(statusCode: 410) == .gone)
        #expect(!DeliveryOutcome.delivered.isFailure && !DeliveryOutcome.gone.isFailure)
        #expect(DeliveryOutcome.retrying.isFailure && DeliveryOutcome.rejected.isFailure && DeliveryOutcome.refusedTarget.isFailure)
    }

    @Test func theStandardScheduleIsNineRetriesOverThreeDaysAndAHalf() {
        let schedule = RetrySchedule.standard
        #expect(schedule.delaysSeconds == [5, 300, 1_800, 7_200, 18_000, 36_000, 50_400, 72_000, 86_400])
        // Given a failure, when the jitter is at either end or the middle, then the delay is
        // within ±20 % of the scheduled one.
        #expect(schedule.delayMilliseconds(afterFailures: 1, retryAfterSeconds: nil, jitter: 0) == 4_000)
        #expect(schedule.delayMilliseconds(afterFailures: 1, retryAfterSeconds: nil, jitter: 0.5) == 5_000)
        #expect(schedule.delayMilliseconds(afterFailures: 1, retryAfterSeconds: nil, jitter: 1) == 6_000)
        #expect(schedule.delayMilliseconds(afterFailures: 9, retryAfterSeconds: nil, jitter: 0.5) == 86_400_000)
        // The tenth failure has no retry left: the subscription is disabled.
        #expect(schedule.delayMilliseconds(afterFailures: 10, retryAfterSeconds: nil, jitter: 0.5) == nil)
    }

    @Test func retryAfterReplacesTheScheduledDelayWithinADay() {
        let schedule = RetrySchedule.standard
        #expect(schedule.delayMilliseconds(afterFailures: 2, retryAfterSeconds: 42, jitter: 0.9) == 42_000)
        #expect(schedule.delayMilliseconds(afterFailures: 2, retryAfterSeconds: 0, jitter: 0.9) == 1_000)
        #expect(schedule.delayMilliseconds(afterFailures: 2, retryAfterSeconds: 10_000_000, jitter: 0.9) == 86_400_000)
        // A Retry-After does not extend a spent schedule.
        #expect(schedule.delayMilliseconds(afterFailures: 10, retryAfterSeconds: 1, jitter: 0.5) == nil)
    }

    @Test func aScheduleIsReadFromItsSetting() {
        #expect(RetrySchedule.parse("1,1,2") == RetrySchedule(delaysSeconds: [1, 1, 2]))
        #expect(RetrySchedule.parse(" 5, 300") == RetrySchedule(delaysSeconds: [5, 300]))
        for bad in ["", "1,,2", "a", "-1", "86401", Array(repeating: "1", count: Limits.webhookRetriesMax + 1).joined(separator: ",")] {
            #expect(RetrySchedule.parse(bad) == nil, "\(bad)")
        }
    }

    @Test func privateLoopbackLinkLocalAndMetadataAddressesAreRefused() {
        let refused: [(UInt8, UInt8, UInt8, UInt8)] = [
            (127, 0, 0, 1), (127, 255, 1, 2), (10, 1, 2, 3), (172, 16, 0, 1), (172, 31, 255, 255), (192, 168, 1, 1),
            (169, 254, 169, 254), (0, 0, 0, 0), (100, 64, 0, 1), (100, 127, 0, 1), (224, 0, 0, 1), (255, 255, 255, 255),
            (198, 18, 0, 1), (192, 0, 2, 1), (203, 0, 113, 9),
        ]
        for (a, b, c, d) in refused {
            #expect(WebhookTarget.classify(ipv4: a, b, c, d) != .public, "\(a).\(b).\(c).\(d)")
        }
        for (a, b, c, d) in [(8, 8, 8, 8), (172, 32, 0, 1), (172, 15, 0, 1), (100, 128, 0, 1), (192, 169, 0, 1), (93, 184, 216, 34)] as [(UInt8, UInt8, UInt8, UInt8)] {
            #expect(WebhookTarget.classify(ipv4: a, b, c, d) == .public, "\(a).\(b).\(c).\(d)")
        }
    }

    @Test func ipv6AddressesAreJudgedWithTheIPv4TheyCarry() {
        func v6(_ prefix: [UInt8], _ suffix: [UInt8] = []) -> [UInt8] {
            prefix + Array(repeating: 0, count: 16 - prefix.count - suffix.count) + suffix
        }
        #expect(WebhookTarget.classify(ipv6: v6([], [1])) == .refused("loopback (::1)"))
        #expect(WebhookTarget.classify(ipv6: v6([])) == .refused("unspecified (::)"))
        #expect(WebhookTarget.classify(ipv6: v6([0xfe, 0x80], [1])) != .public)
        #expect(WebhookTarget.classify(ipv6: v6([0xfd, 0x00, 0x0e, 0xc2], [0x02, 0x54])) != .public)
        #expect(WebhookTarget.classify(ipv6: v6([0xff, 0x02], [1])) != .public)
        // ::ffff:127.0.0.1 and ::ffff:169.254.169.254 are refused, ::ffff:8.8.8.8 is not.
        #expect(WebhookTarget.classify(ipv6: v6([], [0xff, 0xff, 127, 0, 0, 1])) != .public)
        #expect(WebhookTarget.classify(ipv6: v6([], [0xff, 0xff, 169, 254, 169, 254])) != .public)
        #expect(WebhookTarget.classify(ipv6: v6([], [0xff, 0xff, 8, 8, 8, 8])) == .public)
        // NAT64 and 6to4 reach the IPv4 address they carry.
        #expect(WebhookTarget.classify(ipv6: v6([0x00, 0x64, 0xff, 0x9b], [10, 0, 0, 1])) != .public)
        #expect(WebhookTarget.classify(ipv6: v6([0x20, 0x02, 192, 168, 0, 1])) != .public)
        #expect(WebhookTarget.classify(ipv6: v6([0x26, 0x06, 0x47, 0x00], [0x68, 0x12])) == .public)
    }

    @Test func aTargetURLIsHTTPOrHTTPSWithAHostAndNoCredentials() {
        #expect(WebhookTarget.check(scheme: "https", host: "erp.example.com", hasUserInfo: false, length: 40) == nil)
        #expect(WebhookTarget.check(scheme: "HTTP", host: "erp.example.com", hasUserInfo: false, length: 40) == nil)
        #expect(WebhookTarget.check(scheme: "ftp", host: "erp.example.com", hasUserInfo: false, length: 40)
            == .notAllowed(field: "url", reason: "only http and https URLs are delivered to"))
        #expect(WebhookTarget.check(scheme: "https", host: "", hasUserInfo: false, length: 40) == .notAllowed(field: "url", reason: "the URL has no host"))
        #expect(WebhookTarget.check(scheme: "https", host: "h", hasUserInfo: true, length: 40) != nil)
        #expect(WebhookTarget.check(scheme: "https", host: "h", hasUserInfo: false, length: Limits.webhookURLLengthMax + 1)
            == .invalidText(field: "url", lengthMax: Limits.webhookURLLengthMax))
    }
}

@Suite struct WebhookSpecTests {
    static let admin = Principal(apiKeyId: "a", role: .admin, scope: .all)
    static let bound = Principal(apiKeyId: "i", role: .integration, scope: .only(["WH-01", "PAR-01"]))

    @Test func anAdminSubscribesToAnyTypesAndLocations() throws {
        let spec = try WebhookSpec.validate(
            url: "https://erp.example.com/hook", eventTypes: ["order.ready", "stock.moved"], locationIds: ["PAR-02"], description: "ERP",
            by: Self.admin).get()
        #expect(spec.eventTypes == ["order.ready", "stock.moved"])
        #expect(spec.filter == WebhookFilter(eventTypes: ["order.ready", "stock.moved"], scope: .only(["PAR-02"])))
        let everything = try WebhookSpec.validate(url: "https://x", eventTypes: nil, locationIds: nil, description: nil, by: Self.admin).get()
        #expect(everything.filter == WebhookFilter(eventTypes: nil, scope: .all))
    }

    @Test func aBoundIntegrationSubscribesWithinItsLocations() throws {
        // Given a key bound to WH-01 and PAR-01, when it names none, then it gets its own.
        let own = try WebhookSpec.validate(url: "https://x", eventTypes: nil, locationIds: nil, description: nil, by: Self.bound).get()
        #expect(own.locationIds == ["PAR-01", "WH-01"])
        // When it names another location, then that one is refused.
        #expect(
            WebhookSpec.validate(url: "https://x", eventTypes: nil, locationIds: ["PAR-01", "LYO-01"], description: nil, by: Self.bound)
                == .failure(Rejections(.locationForbidden(locationId: "LYO-01"))))
    }

    @Test func everyFaultOfTheFieldsIsNamedAtOnce() {
        let result = WebhookSpec.validate(
            url: "https://x", eventTypes: ["stock.moved", "stock.moved", "stock.vanished"], locationIds: [], description: "",
            by: Self.admin)
        #expect(
            result == .failure(Rejections([
                .duplicate(field: "eventTypes", value: "stock.moved"),
                .unknownEventType(field: "eventTypes/2", type: "stock.vanished"),
                .notAllowed(field: "locationIds", reason: "leave it out for every location"),
                .invalidText(field: "description", lengthMax: Limits.webhookDescriptionLengthMax),
            ])))
    }

    @Test func everyTypeTheLedgerRecordsIsKnown() {
        #expect(LedgerEvent.knownTypes.contains("order.ready"))
        #expect(LedgerEvent.knownTypes.contains("transfer.received"))
        #expect(LedgerEvent.knownTypes.contains("hold.converted"))
        #expect(LedgerEvent.knownTypes.count == 11 + OrderStep.allCases.count + TransferStep.allCases.count)
    }

    @Test func aFilterWantsItsTypesAtItsLocations() {
        let filter = WebhookFilter(eventTypes: ["order.ready"], scope: .only(["PAR-01"]))
        #expect(filter.wants(type: "order.ready", locationIds: ["PAR-01", "WH-01"]))
        #expect(!filter.wants(type: "order.ready", locationIds: ["WH-01"]))
        #expect(!filter.wants(type: "order.created", locationIds: ["PAR-01"]))
        #expect(WebhookFilter(eventTypes: nil, scope: .all).wants(type: "anything", locationIds: []))
    }
}
