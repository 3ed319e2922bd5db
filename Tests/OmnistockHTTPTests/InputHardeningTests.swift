import Foundation
import HTTPTypes
import NIOCore
import Testing

extension Harness {
    /// Sends raw bytes as the body, with the given Content-Type (none when nil), by the admin.
    func send(
        _ method: HTTPRequest.Method, _ uri: String, bytes: [UInt8], contentType: String?, key: String? = nil,
        headers extra: HTTPFields = [:]
    ) async throws -> Reply {
        var headers = extra
        headers[.authorization] = "Bearer \(key ?? keys.admin)"
        if let contentType { headers[.contentType] = contentType }
        let response = try await client.executeRequest(uri: uri, method: method, headers: headers, body: ByteBuffer(bytes: bytes))
        return Reply(status: response.status, headers: response.headers, text: String(buffer: response.body))
    }

    /// The first error's `detail`.
    func detail(_ reply: Reply) -> String {
        ((reply.json["errors"] as? [[String: Any]])?.first?["detail"] as? String) ?? ""
    }
}

/// The edge reads input one way everywhere (issue 11, defects 2, 5 and 6): routes that take no
/// body refuse one, path parameters are percent-decoded once, and JSON bodies are read as
/// RFC 8259 UTF-8 with no duplicate keys, no nulls the API does not document, and integers
/// however JSON writes them.
@Suite struct InputHardeningTests {
    static let idempotencyKey = HTTPField.Name("Idempotency-Key")!

    // MARK: Defect 2: routes that take no body.

    @Test func storeStepsRefuseABodyTheyDoNotTakeAndChangeNothing() async throws {
        try await Harness.run { h in
            _ = try await h.receive("JACKET-M", "PAR-01", 10)
            let parcel = try await h.shipOrder("WEB-9001", "JACKET-M", 2, from: "PAR-01")
            let version = try await h.readOrder(parcel).json["version"] as? Int
            for action in ["picking", "ready", "unlock", "lines/1/not-found"] {
                let uri = "/v1/orders/\(parcel)/\(action)"
                let text = try await h.send(.post, uri, bytes: Array("this is not json".utf8), contentType: "text/plain", key: h.keys.store)
                #expect(text.status == .unsupportedMediaType && text.isProblem, "\(action): \(text.text)")
                let bare = try await h.send(.post, uri, bytes: Array("this is not json".utf8), contentType: nil, key: h.keys.store)
                #expect(bare.status == .unsupportedMediaType && bare.isProblem, "\(action) with no Content-Type: \(bare.text)")
                let foo = try await h.call(.post, uri, key: h.keys.store, body: #"{"foo": 1}"#)
                #expect(foo.status == .badRequest && foo.codes == ["unknown-field"] && foo.fields == ["/foo"], "\(action): \(foo.text)")
                let garbage = try await h.call(.post, uri, key: h.keys.store, body: "this is not json")
                #expect(garbage.status == .badRequest && garbage.codes == ["malformed-json"], "\(action): \(garbage.text)")
                let array = try await h.call(.post, uri, key: h.keys.store, body: "[]")
                #expect(array.status == .badRequest && array.isProblem, "\(action): \(array.text)")
            }
            // Nothing happened to the order or the stock (the not-found once wrote 2 units off).
            let order = try await h.readOrder(parcel)
            #expect(order.json["version"] as? Int == version && order.json["status"] as? String == "allocated", "\(order.text)")
            #expect(try await h.position("PAR-01", "JACKET-M")["onHand"] as? Int == 10)
            try await h.verifyIsClean()
        }
    }

    @Test func aStepWithoutABodyTakesNothingAnEmptyBodyOrAnEmptyObject() async throws {
        try await Harness.run { h in
            _ = try await h.receive("JACKET-M", "PAR-01", 10)
            let parcel = try await h.shipOrder("WEB-9002", "JACKET-M", 1, from: "PAR-01")
            let none = try await h.call(.post, "/v1/orders/\(parcel)/picking", key: h.keys.store)
            #expect(none.status == .ok, "no body: \(none.text)")
            let empty = try await h.send(.post, "/v1/orders/\(parcel)/picking", bytes: [], contentType: "text/plain", key: h.keys.store)
            #expect(empty.status == .ok, "an empty body, whatever its type: \(empty.text)")
            let object = try await h.call(.post, "/v1/orders/\(parcel)/picking", key: h.keys.store, body: " { } ")
            #expect(object.status == .ok, "{}: \(object.text)")
        }
    }

    @Test func cancelReadsItsOptionalBodyAsJSONOnly() async throws {
        try await Harness.run { h in
            _ = try await h.receive("JACKET-M", "PAR-01", 10)
            let parcel = try await h.shipOrder("WEB-9003", "JACKET-M", 1, from: "PAR-01")
            let bare = try await h.send(.post, "/v1/orders/\(parcel)/cancel", bytes: Array("customer".utf8), contentType: nil)
            #expect(bare.status == .unsupportedMediaType, "a body with no Content-Type: \(bare.text)")
            #expect(try await h.readOrder(parcel).json["status"] as? String == "allocated")
            let cancelled = try await h.call(.post, "/v1/orders/\(parcel)/cancel", key: h.keys.admin)
            #expect(cancelled.status == .ok && cancelled.json["status"] as? String == "cancelled", "\(cancelled.text)")
        }
    }

    @Test func getAndDeleteRefuseABody() async throws {
        try await Harness.run { h in
            let text = try await h.send(.get, "/v1/locations/PAR-01", bytes: Array("hello".utf8), contentType: "text/plain")
            #expect(text.status == .unsupportedMediaType && text.isProblem, "\(text.text)")
            let unknown = try await h.call(.get, "/v1/locations", key: h.keys.admin, body: #"{"limit": 1}"#)
            #expect(unknown.status == .badRequest && unknown.fields == ["/limit"], "\(unknown.text)")
            let health = try await h.send(.get, "/health", bytes: Array("x".utf8), contentType: "text/plain")
            #expect(health.status == .unsupportedMediaType, "\(health.text)")
            let empty = try await h.call(.get, "/v1/locations/PAR-01", key: h.keys.admin, body: "{}")
            #expect(empty.status == .ok, "\(empty.text)")

            _ = try await h.receive("JACKET-M", "PAR-01", 5)
            let hold = try await h.hold(#"{"lines": [{"sku": "JACKET-M", "quantity": 1, "locationId": "PAR-01"}]}"#)
            let holdId = try #require(hold.json["id"] as? String, "\(hold.text)")
            let release = try await h.call(.delete, "/v1/holds/\(holdId)", key: h.keys.checkout, body: #"{"reason": "x"}"#)
            #expect(release.status == .badRequest && release.codes == ["unknown-field"], "\(release.text)")
            #expect(try await h.call(.get, "/v1/holds/\(holdId)", key: h.keys.checkout).json["status"] as? String == "active")
            let revoke = try await h.send(.delete, "/v1/api-keys/key_x", bytes: Array("x".utf8), contentType: "text/plain")
            #expect(revoke.status == .unsupportedMediaType, "\(revoke.text)")
        }
    }

    // MARK: Defect 5: percent-encoded path parameters.

    @Test func pathParametersArePercentDecodedOnce() async throws {
        try await Harness.run { h in
            let created = try await h.call(.put, "/v1/locations/A%3AB", key: h.keys.admin, body: Harness.locationBody)
            #expect(created.status == .created && created.json["id"] as? String == "A:B", "\(created.text)")
            for uri in ["/v1/locations/A:B", "/v1/locations/A%3AB", "/v1/locations/A%3aB"] {
                let read = try await h.call(.get, uri, key: h.keys.admin)
                #expect(read.status == .ok && read.json["id"] as? String == "A:B", "\(uri): \(read.text)")
            }
            let dash = try await h.call(.get, "/v1/locations/PAR%2D01", key: h.keys.admin)
            #expect(dash.status == .ok && dash.json["id"] as? String == "PAR-01", "\(dash.text)")

            _ = try await h.receive("JACKET-M", "PAR-01", 5)
            let stock = try await h.call(.get, "/v1/stock/PAR%2D01/JACKET%2DM", key: h.keys.admin)
            #expect(stock.status == .ok && stock.json["onHand"] as? Int == 5, "\(stock.text)")
            let hold = try await h.hold(#"{"lines": [{"sku": "JACKET-M", "quantity": 1, "locationId": "PAR-01"}]}"#)
            let holdId = try #require(hold.json["id"] as? String)
            let encodedHold = holdId.replacingOccurrences(of: "_", with: "%5F")
            #expect(try await h.call(.get, "/v1/holds/\(encodedHold)", key: h.keys.checkout).status == .ok)
            let parcel = try await h.shipOrder("WEB-9004", "JACKET-M", 1, from: "PAR-01")
            let encodedOrder = parcel.replacingOccurrences(of: "_", with: "%5F")
            #expect(try await h.readOrder(encodedOrder).status == .ok)
            #expect(try await h.step(encodedOrder, "picking").status == .ok)

            // Decoded once: %253A is the text "%3A", which is no identifier; a slash stays refused.
            for uri in ["/v1/locations/A%253AB", "/v1/locations/A%2FB", "/v1/locations/PAR%2", "/v1/locations/PAR%ZZ", "/v1/locations/%C3%A9"] {
                let bad = try await h.call(.get, uri, key: h.keys.admin)
                #expect(bad.status == .badRequest && bad.codes == ["invalid-identifier"] && bad.fields == ["locationId"], "\(uri): \(bad.text)")
            }
        }
    }

    // MARK: Defect 6: validation that agrees with itself and with common parsers.

    @Test func everyPostRefusesTheSameMalformedIdempotencyKeys() async throws {
        try await Harness.run { h in
            let plan = #"{"lines": [{"sku": "JACKET-M", "quantity": 1}], "destination": {"latitude": 48.86, "longitude": 2.34}}"#
            for key in [String(repeating: "k", count: 256), "has spaces", "", "é"] {
                let reply = try await h.call(.post, "/v1/sourcing/plan", key: h.keys.checkout, body: plan, headers: [Self.idempotencyKey: key])
                #expect(reply.status == .badRequest && reply.codes == ["invalid-idempotency-key"], "\(key.prefix(8)): \(reply.text)")
            }
            let longest = String(repeating: "k", count: 255)
            let fine = try await h.call(.post, "/v1/sourcing/plan", key: h.keys.checkout, body: plan, headers: [Self.idempotencyKey: longest])
            #expect(fine.status == .ok, "\(fine.text)")
        }
    }

    @Test func nullIsRefusedWhereTheAPIDoesNotDocumentIt() async throws {
        try await Harness.run { h in
            let cases: [(String, String, String)] = [
                ("/v1/holds", #"{"lines": [{"sku": "JACKET-M", "quantity": 1, "locationId": "PAR-01"}], "ttlSeconds": null}"#, "/ttlSeconds"),
                ("/v1/holds", #"{"lines": [{"sku": "JACKET-M", "quantity": 1, "locationId": null}]}"#, "/lines/0/locationId"),
                ("/v1/orders", #"{"orderNumber": "WEB-9005", "lines": null, "holdId": "hld_x"}"#, "/lines"),
                ("/v1/holds", #"{"lines": null}"#, "/lines"),
                ("/v1/holds", #"{"lines": [{"sku": "JACKET-M", "quantity": null}]}"#, "/lines/0/quantity"),
            ]
            for (uri, body, field) in cases {
                let reply = try await h.call(.post, uri, key: h.keys.checkout, body: body)
                #expect(reply.status == .badRequest && reply.codes == ["wrong-type"] && reply.fields == [field], "\(body): \(reply.text)")
            }
            let location = Harness.locationBody.replacingOccurrences(of: "\"priority\": 1", with: "\"priority\": null")
            let put = try await h.call(.put, "/v1/locations/PAR-09", key: h.keys.admin, body: location)
            #expect(put.status == .badRequest && put.fields == ["/priority"], "\(put.text)")
            // The safety stock's documented null still clears it.
            let cleared = try await h.call(.put, "/v1/stock/PAR-01/CAP/safety-stock", key: h.keys.admin, body: #"{"quantity": null}"#)
            #expect(cleared.status == .ok, "\(cleared.text)")
        }
    }

    @Test func duplicateKeysAreRefusedAtAnyDepth() async throws {
        try await Harness.run { h in
            let cases: [(String, String)] = [
                (#"{"lines": [{"sku": "JACKET-M", "quantity": 1, "locationId": "PAR-01"}], "ttlSeconds": 60, "ttlSeconds": 900}"#, "/ttlSeconds"),
                (#"{"lines": [{"sku": "JACKET-M", "quantity": 1, "quantity": 5, "locationId": "PAR-01"}]}"#, "/lines/0/quantity"),
                (#"{"lines": [{"sku": "A", "quantity": 1}, {"sku": "B", "s\u006bu": "C", "quantity": 1}]}"#, "/lines/1/sku"),
            ]
            for (body, field) in cases {
                let reply = try await h.call(.post, "/v1/holds", key: h.keys.checkout, body: body)
                #expect(reply.status == .badRequest && reply.codes == ["duplicate-key"] && reply.fields == [field], "\(body): \(reply.text)")
            }
            let escaped = try await h.call(
                .put, "/v1/locations/PAR-09", key: h.keys.admin,
                body: Harness.locationBody.replacingOccurrences(of: "\"pickup\": true,", with: "\"pickup\": true, \"a/b~\": 1, \"a/b~\": 2,"))
            #expect(escaped.status == .badRequest && escaped.fields == ["/capabilities/a~1b~0"], "\(escaped.text)")
            let deep = String(repeating: "[", count: 40) + String(repeating: "]", count: 40)
            let tooDeep = try await h.call(.post, "/v1/holds", key: h.keys.checkout, body: #"{"lines": \#(deep)}"#)
            #expect(tooDeep.status == .badRequest && tooDeep.codes == ["too-deep"], "\(tooDeep.text)")
            // The same key in sibling objects is no duplicate.
            _ = try await h.receive("JACKET-M", "PAR-01", 5)
            let fine = try await h.hold(#"{"lines": [{"sku": "JACKET-M", "quantity": 1, "locationId": "PAR-01"}, {"sku": "JACKET-M", "quantity": 1, "locationId": "PAR-02"}], "allowPartial": true}"#)
            #expect(fine.status == .created, "\(fine.text)")
        }
    }

    @Test func onlyUTF8JSONIsRead() async throws {
        try await Harness.run { h in
            let body = Harness.locationBody
            let utf16 = try #require(body.data(using: .utf16))  // With a byte order mark.
            let utf16le = try #require(body.data(using: .utf16LittleEndian))
            let utf32 = try #require(body.data(using: .utf32BigEndian))
            for (name, bytes) in [("UTF-16", Array(utf16)), ("UTF-16LE", Array(utf16le)), ("UTF-32", Array(utf32)),
                                  ("UTF-8 with a BOM", [0xEF, 0xBB, 0xBF] + Array(body.utf8)), ("a NUL byte", Array(body.utf8) + [0])] {
                let reply = try await h.send(.put, "/v1/locations/PAR-09", bytes: bytes, contentType: "application/json")
                #expect(reply.status == .badRequest && reply.codes == ["invalid-encoding"], "\(name): \(reply.text)")
            }
            for charset in ["utf-16", "iso-8859-1", "\"utf-16\""] {
                let reply = try await h.send(
                    .put, "/v1/locations/PAR-09", bytes: Array(body.utf8), contentType: "application/json; charset=\(charset)")
                #expect(reply.status == .unsupportedMediaType, "\(charset): \(reply.text)")
            }
            let invalid = try await h.send(
                .put, "/v1/locations/PAR-09", bytes: Array(body.replacingOccurrences(of: "Rivoli", with: "Riv").utf8).map { $0 == UInt8(ascii: "v") ? 0xFF : $0 },
                contentType: "application/json")
            #expect(invalid.status == .badRequest && invalid.codes == ["invalid-encoding"], "invalid UTF-8: \(invalid.text)")
            #expect(try await h.call(.get, "/v1/locations/PAR-09", key: h.keys.admin).status == .notFound)
            let declared = try await h.send(
                .put, "/v1/locations/PAR-09", bytes: Array(body.utf8), contentType: "application/json; charset=UTF-8")
            #expect(declared.status == .created, "\(declared.text)")
        }
    }

    @Test func anIntegerMayBeWrittenWithAZeroFractionOrAnExponent() async throws {
        try await Harness.run { h in
            for (written, value) in [("9330.0", 9330), ("9.33e3", 9330), ("9330E0", 9330), ("933000e-2", 9330), ("1.0e2", 100)] {
                let body = Harness.locationBody.replacingOccurrences(of: "\"dailyCapacity\": 200", with: "\"dailyCapacity\": \(written)")
                let reply = try await h.call(.put, "/v1/locations/PAR-09", key: h.keys.admin, body: body)
                #expect([.created, .ok].contains(reply.status) && reply.json["dailyCapacity"] as? Int == value, "\(written): \(reply.text)")
            }
            _ = try await h.receive("JACKET-M", "PAR-01", 5)
            let hold = try await h.hold(#"{"lines": [{"sku": "JACKET-M", "quantity": 2.0, "locationId": "PAR-01"}], "ttlSeconds": 6e1}"#)
            #expect(hold.status == .created, "\(hold.text)")
            #expect(try await h.position("PAR-01", "JACKET-M")["held"] as? Int == 2)
            for written in ["2.5", "9330.01", "1e30", "9.3e-1", "9223372036854775808.0"] {
                let body = Harness.locationBody.replacingOccurrences(of: "\"dailyCapacity\": 200", with: "\"dailyCapacity\": \(written)")
                let reply = try await h.call(.put, "/v1/locations/PAR-10", key: h.keys.admin, body: body)
                #expect(reply.status == .badRequest && reply.fields == ["/dailyCapacity"], "\(written): \(reply.text)")
            }
        }
    }

    @Test func anIntegerQueryParameterMayBeWrittenWithAZeroFraction() async throws {
        try await Harness.run { h in
            for query in ["after=0.0&limit=10.0", "after=0e5&limit=1e1", "limit=1000.000"] {
                let reply = try await h.call(.get, "/v1/events?\(query)", key: h.keys.admin)
                #expect(reply.status == .ok, "\(query): \(reply.text)")
            }
            let page = try await h.call(.get, "/v1/locations?limit=1.0e0", key: h.keys.admin)
            #expect(page.status == .ok && (page.json["items"] as? [Any])?.count == 1, "\(page.text)")
            for query in ["limit=2.5", "limit=1e3.5", "limit=1001.0", "after=1e19", "limit=0x10", "limit=.5e1"] {
                let reply = try await h.call(.get, "/v1/events?\(query)", key: h.keys.admin)
                #expect(reply.status == .badRequest && reply.codes == ["out-of-range"], "\(query): \(reply.text)")
            }
        }
    }

    @Test func aControlCharacterInANameIsNamedAsSuch() async throws {
        try await Harness.run { h in
            let body = Harness.locationBody.replacingOccurrences(of: "Paris Rivoli", with: #"Paris\tRivoli"#)
            let reply = try await h.call(.put, "/v1/locations/PAR-09", key: h.keys.admin, body: body)
            #expect(reply.status == .unprocessableContent && reply.fields == ["/name"], "\(reply.text)")
            #expect(h.detail(reply).contains("U+0009"), "\(reply.text)")
            #expect(!h.detail(reply).contains("1 to 200"), "\(reply.text)")
            let key = try await h.call(.post, "/v1/api-keys", key: h.keys.admin, body: #"{"name": "till\u007f", "role": "checkout"}"#)
            #expect(key.status == .unprocessableContent && h.detail(key).contains("U+007F"), "\(key.text)")
        }
    }

    @Test func anApiKeyNeedsANameOfPrintableText() async throws {
        try await Harness.run { h in
            let none = try await h.call(.post, "/v1/api-keys", key: h.keys.admin, body: #"{"role": "checkout"}"#)
            #expect(none.status == .badRequest && none.codes == ["missing-field"] && none.fields == ["/name"], "\(none.text)")
            let blank = try await h.call(.post, "/v1/api-keys", key: h.keys.admin, body: #"{"name": "  ", "role": "checkout"}"#)
            #expect(blank.status == .unprocessableContent && blank.fields == ["/name"], "\(blank.text)")
            let named = try await h.call(.post, "/v1/api-keys", key: h.keys.admin, body: #"{"name": "web shop", "role": "checkout"}"#)
            #expect(named.status == .created, "\(named.text)")
        }
    }
}
