import Hummingbird
import OmnistockCore

/// The store app at `/store/`: its index at the folder's path (with or without the slash) and
/// its files by name. No key is needed to load the page; everything it shows comes from `/v1`
/// with the key its user signs in with.
struct WebPageRoutes {
    let page: Result<WebPage, any Error>

    func register(on router: Router<OmsContext>) {
        router
            .get("store", use: self.index)
            .get("store/{file}", use: self.file)
    }

    /// `GET /store/`: the app.
    @Sendable func index(_ request: Request, context: OmsContext) async throws -> Response {
        try page.get().index(request)
    }

    /// `GET /store/{file}`: one of the app's files (404 for any other name).
    @Sendable func file(_ request: Request, context: OmsContext) async throws -> Response {
        try page.get().file(context.parameters.get("file") ?? "", request: request, what: "The store app")
    }
}
