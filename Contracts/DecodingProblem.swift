/// A JSON decoding error as one line that names the field (`payload.doctorId`, `hours[2].start`),
/// for dead-letter headers and HTTP 400 answers alike.
public struct DecodingProblem: Sendable, CustomStringConvertible {
    /// The dotted path of the field, nil when the problem is the whole document.
    public let field: String?
    public let reason: String

    public init(_ error: any Error) {
        guard let error = error as? DecodingError else {
            field = nil
            reason = String(describing: error)
            return
        }
        func path(_ keys: [any CodingKey]) -> String? {
            guard !keys.isEmpty else { return nil }
            return keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
                .replacingOccurrences(of: ".[", with: "[")
        }
        switch error {
        case .keyNotFound(let key, let context):
            field = path(context.codingPath + [key])
            reason = "is missing"
        case .typeMismatch(let type, let context):
            field = path(context.codingPath)
            reason = "must be \(Self.name(of: type))"
        case .valueNotFound(let type, let context):
            field = path(context.codingPath)
            reason = "must be \(Self.name(of: type)), not null"
        case .dataCorrupted(let context):
            field = path(context.codingPath)
            reason = context.codingPath.isEmpty ? "is not valid JSON" : Self.explain(context.debugDescription)
        @unknown default:
            field = nil
            reason = String(describing: error)
        }
    }

    public var description: String {
        guard let field else { return "the body \(reason)" }
        return "field '\(field)' \(reason)"
    }

    static func name(of type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is Int64.Type, is Int32.Type: "a whole number"
        case is Double.Type: "a number"
        case is Bool.Type: "true or false"
        case is [String: Any].Type: "an object"
        default: "\(type)".hasPrefix("Array") ? "a list" : "\(type)"
        }
    }

    static func explain(_ debug: String) -> String {
        if debug.contains("UUID") { return "must be a UUID" }
        if debug.contains("ISO-8601") || debug.contains("timestamp") { return "must be an ISO-8601 time" }
        return "is invalid: \(debug)"
    }
}
