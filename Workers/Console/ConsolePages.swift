import Foundation
import HTTPTypes
import Hummingbird
import Mustache

/// Renders the console's pages: a page's template with its values, inside the layout.
struct ConsolePages: Sendable {
    let library: MustacheLibrary

    init() throws {
        var library = MustacheLibrary()
        for (name, source) in PageTemplates.all { library.register(try MustacheTemplate(string: source), named: name) }
        self.library = library
    }

    /// Which item of the navigation is the current page.
    enum Section: String {
        case groups, dlq, workers, analytics, none
    }

    struct Layout {
        var title: String
        var content: String
        var signedIn: Bool
        var email: String
        var csrf: String
        var nav: [String: Bool]
        var charts: Bool
    }

    /// A fragment: one template rendered with `values`.
    func fragment(_ template: String, _ values: Any) throws -> String {
        guard let html = library.render(values, withTemplate: template) else { throw ConsoleError("no template \(template)") }
        return html
    }

    /// A whole page.
    func page(
        _ template: String, _ values: Any, title: String, section: Section, session: ConsoleSession?, charts: Bool = false,
        status: HTTPResponse.Status = .ok
    ) throws -> Response {
        let content = try fragment(template, values)
        let layout = Layout(
            title: title, content: content, signedIn: session != nil, email: session?.email ?? "", csrf: session?.csrfToken ?? "",
            nav: [section.rawValue: true], charts: charts)
        return Self.html(try fragment("layout", layout), status: status)
    }

    struct Message {
        var kind: String
        var text: String
        var back: String?
    }

    /// A page that only says something (an error the operator can act on).
    func message(_ text: String, title: String, session: ConsoleSession?, status: HTTPResponse.Status, back: String? = nil) throws -> Response {
        try page(
            "message", Message(kind: status.code >= 400 ? "problem" : "done", text: text, back: back), title: title, section: .none,
            session: session, status: status)
    }

    static func html(_ text: String, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "text/html; charset=utf-8"
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    /// A plain-text answer (refusals from the guard, before any page can be rendered).
    static func plain(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(
            status: status, headers: [.contentType: "text/plain; charset=utf-8"], body: ResponseBody(byteBuffer: ByteBuffer(string: text + "\n")))
    }
}

/// A failure of the console itself (a template missing, a configuration that cannot work).
public struct ConsoleError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
