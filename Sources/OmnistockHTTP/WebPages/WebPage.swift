import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import OmnistockCore
import OmnistockStore

/// A web page for people (the store app): a flat folder of HTML, CSS and JavaScript modules
/// shipped in the binary's resources, read once at start and served from memory. The page
/// calls the public `/v1` API like any client; nothing of it is fetched from outside.
public struct WebPage: Sendable {
    /// One file, ready to send.
    struct Asset: Sendable {
        var bytes: ByteBuffer
        var contentType: String
        /// A strong validator: the first 16 bytes of the SHA-256 of the content, quoted.
        var etag: String
    }

    let assets: [String: Asset]

    /// The headers of every answer of a page. The policy allows scripts, styles, images and
    /// connections from this origin only (no inline script or style, nothing from a CDN), the
    /// camera's stream for scanning pickup codes, no framing (clickjacking), no sniffing of
    /// types, and no referrer, so that no URL of the app leaves it.
    static let securityHeaders: [(HTTPField.Name, String)] = [
        (
            .contentSecurityPolicy,
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
                + "media-src 'self' blob: mediastream:; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        ),
        (.xContentTypeOptions, "nosniff"),
        (.referrerPolicy, "no-referrer"),
        (.xFrameOptions, "DENY"),
        (.permissionsPolicy, "camera=(self), microphone=(), geolocation=()"),
        (.crossOriginOpenerPolicy, "same-origin"),
    ]

    /// The store app, read once; a build without it fails `oms serve` at start (`Runtime`)
    /// and answers its paths with a 500 that says so.
    public static let store = Result { try WebPage.load(folder: "store") }
    /// The customer's order tracking page (`/track/{token}`), likewise.
    public static let track = Result { try WebPage.load(folder: "track") }

    /// The page in the resources folder `folder` (for example `store`).
    public static func load(folder: String) throws -> WebPage {
        guard let root = Bundle.module.url(forResource: folder, withExtension: nil) else {
            throw StoreError.configuration("the web page '\(folder)' is missing from this build")
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: root.path).filter { !$0.hasPrefix(".") }.sorted()
        guard names.count <= Limits.webPageFilesMax else {
            throw StoreError.configuration("the web page '\(folder)' has \(names.count) files, more than \(Limits.webPageFilesMax)")
        }
        var assets: [String: Asset] = [:]
        for name in names {
            guard let contentType = contentType(of: name) else {
                throw StoreError.configuration("the web page '\(folder)' has a file of no known type: \(name)")
            }
            let data = try Data(contentsOf: root.appendingPathComponent(name))
            guard data.count <= Limits.webPageFileBytesMax else {
                throw StoreError.configuration("the web page file '\(folder)/\(name)' is larger than \(Limits.webPageFileBytesMax) bytes")
            }
            let digest = SHA256.hash(data: data).prefix(16).map { String($0, radix: 16).leftPadded(to: 2) }.joined()
            assets[name] = Asset(bytes: ByteBuffer(bytes: data), contentType: contentType, etag: "\"\(digest)\"")
        }
        guard assets["index.html"] != nil else { throw StoreError.configuration("the web page '\(folder)' has no index.html") }
        return WebPage(assets: assets)
    }

    /// The content type of a page file, from its extension; nil for a type pages do not ship.
    static func contentType(of name: String) -> String? {
        switch name.split(separator: ".").last.map(String.init) {
        case "html": "text/html; charset=utf-8"
        case "css": "text/css; charset=utf-8"
        case "js": "text/javascript; charset=utf-8"
        case "svg": "image/svg+xml"
        case "png": "image/png"
        case "webmanifest": "application/manifest+json"
        case "json": "application/json"
        default: nil
        }
    }

    /// The answer for the page itself (its index.html).
    func index(_ request: Request) -> Response {
        guard let response = response(file: "index.html", request: request) else {
            preconditionFailure("a web page is loaded only with its index.html")
        }
        return response
    }

    /// The answer for the file `name` of the page; 404 for a name it does not have, naming the
    /// page (`what`).
    func file(_ name: String, request: Request, what: String) throws -> Response {
        guard let response = response(file: name, request: request) else {
            throw Problem.notFound("\(what) has no file '\(name)'.")
        }
        return response
    }

    /// The answer for a file of the page: 200 with it, 304 when the client has it already
    /// (`If-None-Match`), or nil when the page has no such file. Browsers revalidate on every
    /// load (`no-cache`), so a new release is picked up at once, at the price of a 304.
    func response(file name: String, request: Request) -> Response? {
        guard let asset = assets[name] else { return nil }
        var headers = HTTPFields()
        for (field, value) in Self.securityHeaders { headers[field] = value }
        headers[.cacheControl] = "no-cache"
        headers[.eTag] = asset.etag
        if let given = request.headers[.ifNoneMatch], given.split(separator: ",").contains(where: { $0.trimmingCharacters(in: .whitespaces) == asset.etag }) {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentType] = asset.contentType
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: asset.bytes))
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}

extension HTTPField.Name {
    static let contentSecurityPolicy = Self("Content-Security-Policy")!
    static let xContentTypeOptions = Self("X-Content-Type-Options")!
    static let referrerPolicy = Self("Referrer-Policy")!
    static let xFrameOptions = Self("X-Frame-Options")!
    static let permissionsPolicy = Self("Permissions-Policy")!
    static let crossOriginOpenerPolicy = Self("Cross-Origin-Opener-Policy")!
}
