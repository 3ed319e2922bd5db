import Foundation
import HTTPTypes
import OmnistockCore
@testable import OmnistockHTTP
import Testing

/// Every rejection the core can make becomes the problem document it always became: the same
/// status in a body and in a path, the same field name, and a body that is never empty.
@Suite struct ProblemTests {
    /// One rejection of each kind, with the statuses it has in a body, in a path or query, and
    /// in a line of a body (`inLine`).
    static let cases: [(rejection: Rejection, inBody: HTTPResponse.Status, outside: HTTPResponse.Status, inLine: HTTPResponse.Status)] = [
        (.missingField(field: "sku"), .unprocessableContent, .badRequest, .unprocessableContent),
        (.invalidIdentifier(field: "sku"), .unprocessableContent, .badRequest, .unprocessableContent),
        (.invalidText(field: "name", lengthMax: 8), .unprocessableContent, .badRequest, .unprocessableContent),
        (.outOfRange(field: "quantity", lower: "1", upper: "9"), .unprocessableContent, .badRequest, .unprocessableContent),
        (.tooMany(field: "lines", countMax: 2), .unprocessableContent, .badRequest, .unprocessableContent),
        (.duplicate(field: "sku", value: "A"), .unprocessableContent, .badRequest, .unprocessableContent),
        (.notAllowed(field: "address", reason: "no"), .unprocessableContent, .badRequest, .unprocessableContent),
        (.invalidCursor(field: "after"), .unprocessableContent, .badRequest, .unprocessableContent),
        (.insufficientOnHand(sku: "A", locationId: "L", onHand: 1, requested: 2), .conflict, .conflict, .conflict),
        (.insufficientStock(sku: "A", locationId: "L", requested: 2, available: 1), .conflict, .conflict, .conflict),
        (.countTimeOutOfRange(field: "countedAt"), .unprocessableContent, .badRequest, .unprocessableContent),
        (.unknownLocation(locationId: "L"), .notFound, .notFound, .unprocessableContent),
        (.locationInactive(locationId: "L"), .unprocessableContent, .conflict, .unprocessableContent),
        (.locationLacksCapability(locationId: "L", capability: "pickup"), .unprocessableContent, .conflict, .unprocessableContent),
        (.unknownHold(holdId: "H"), .notFound, .notFound, .unprocessableContent),
        (.holdNotActive(holdId: "H", status: .expired), .conflict, .conflict, .conflict),
        (.unknownApiKey(apiKeyId: "K"), .notFound, .notFound, .unprocessableContent),
        (.unknownOrder(orderId: "O"), .notFound, .notFound, .unprocessableContent),
        (.unknownOrderLine(orderId: "O", lineId: "1"), .notFound, .notFound, .unprocessableContent),
        (.unknownTransfer(transferId: "T"), .notFound, .notFound, .unprocessableContent),
        (.invalidTransition(status: "ready", step: "picking"), .conflict, .conflict, .conflict),
        (.linesInTransit(orderId: "O"), .conflict, .conflict, .conflict),
        (.pickupCodeWrong(attemptsLeft: 2), .unprocessableContent, .unprocessableContent, .unprocessableContent),
        (.pickupLocked(orderId: "O"), .conflict, .conflict, .conflict),
        (.roleForbidden(role: .checkout, operation: .manageApiKeys), .forbidden, .forbidden, .forbidden),
        (.locationForbidden(locationId: "L"), .forbidden, .forbidden, .forbidden),
        (.idempotencyKeyReused, .unprocessableContent, .unprocessableContent, .unprocessableContent),
        (.concurrentModification(stream: "order-O"), .conflict, .conflict, .conflict),
        (.inLine(path: "lines/1", .unknownLocation(locationId: "L")), .unprocessableContent, .unprocessableContent, .unprocessableContent),
    ]

    @Test func eachRejectionHasItsStatusAndADocument() throws {
        for (rejection, inBody, outside, _) in Self.cases {
            #expect(Problem(rejection, inBody: true).status == inBody, "\(rejection) in a body")
            #expect(Problem(rejection, inBody: false).status == outside, "\(rejection) in a path or query")
            let document = try JSONSerialization.jsonObject(with: Data(try Problem(rejection).body(requestId: "req-1"))) as? [String: Any]
            #expect(document?["status"] as? Int == Int(inBody.code), "\(rejection)")
            #expect(document?["requestId"] as? String == "req-1", "\(rejection)")
        }
    }

    /// A line of a body that names something unknown makes the body invalid; any other fault
    /// in a line is what it would be on its own.
    @Test func aFaultInALineIsClassifiedByWhatItNames() {
        for (rejection, _, _, inLine) in Self.cases {
            #expect(Problem(.inLine(path: "lines/0", rejection), inBody: true).status == inLine, "\(rejection) in a line")
        }
    }

    /// Body fields are JSON pointers; parameters, headers and resources keep their own names.
    @Test func fieldsAreNamedAsPointersInBodiesOnly() {
        #expect(Problem.fieldName(.missingField(field: "sku"), inBody: true) == "/sku")
        #expect(Problem.fieldName(.missingField(field: "sku"), inBody: false) == "sku")
        #expect(Problem.fieldName(.pickupCodeWrong(attemptsLeft: 1), inBody: true) == "/pickupCode")
        #expect(Problem.fieldName(.inLine(path: "lines/0", .missingField(field: "sku")), inBody: true) == "/lines/0/sku")
        #expect(Problem.fieldName(.invalidCursor(field: "after"), inBody: true) == "after")
        #expect(Problem.fieldName(.unknownLocation(locationId: "L"), inBody: true) == "locationId")
        #expect(Problem.fieldName(.idempotencyKeyReused, inBody: true) == "Idempotency-Key")
        #expect(Problem.fieldName(.roleForbidden(role: .store, operation: .readStock), inBody: true) == nil)
    }
}
