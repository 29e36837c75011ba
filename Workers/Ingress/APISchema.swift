import Foundation

/// A JSON Schema (the OpenAPI 3.1 dialect) of a request or response body, declared next to the
/// type the route decodes or answers, so the document says what the code does.
indirect enum Schema: Sendable {
    case string(format: String? = nil, minLength: Int? = nil, maxLength: Int? = nil, pattern: String? = nil, values: [String]? = nil)
    case integer(minimum: Int? = nil, maximum: Int? = nil)
    case number
    case boolean
    case array(Schema, maxItems: Int? = nil)
    /// Properties in order; `required` names those always present (others may be absent).
    case object([(String, Schema)], required: [String] = [], additional: Schema? = nil)
    /// Any JSON object (e.g. a recorded event).
    case anyObject
    /// A named component (`#/components/schemas/<name>`), with its schema.
    case named(String, Schema)

    /// A reference to a documented type's schema, listed under `components.schemas`.
    static func ref<T: Documented>(_ type: T.Type) -> Schema { .named(T.schemaName, T.schema) }

    static let uuid = Schema.string(format: "uuid", minLength: 36, maxLength: 36)
    static let dateTime = Schema.string(format: "date-time", maxLength: 40)
    static let date = Schema.string(format: "date", minLength: 10, maxLength: 10)
    static let email = Schema.string(format: "email", minLength: 3, maxLength: 254)
    static let clock = Schema.string(pattern: "^([01][0-9]|2[0-4]):[0-5][0-9]$")
    static func text(_ maxLength: Int, minLength: Int? = nil) -> Schema { .string(minLength: minLength, maxLength: maxLength) }
    static func oneOf<T: RawRepresentable & CaseIterable>(_ type: T.Type) -> Schema where T.RawValue == String {
        .string(values: type.allCases.map(\.rawValue))
    }

    var json: [String: Any] { json(nullableOptionals: false) }

    /// As a request body: an optional property may also be `null`, which the API reads as absent.
    var requestJSON: [String: Any] { json(nullableOptionals: true) }

    /// The named components this schema refers to, at any depth.
    func components(into found: inout [String: Schema]) {
        switch self {
        case .named(let name, let schema):
            guard found[name] == nil else { return }
            found[name] = schema
            schema.components(into: &found)
        case .array(let items, _): items.components(into: &found)
        case .object(let properties, _, let additional):
            for (_, property) in properties { property.components(into: &found) }
            additional?.components(into: &found)
        default: break
        }
    }

    func json(nullableOptionals: Bool) -> [String: Any] {
        switch self {
        case .string(let format, let minLength, let maxLength, let pattern, let values):
            var schema: [String: Any] = ["type": "string"]
            if let format { schema["format"] = format }
            if let minLength { schema["minLength"] = minLength }
            if let maxLength { schema["maxLength"] = maxLength }
            if let pattern { schema["pattern"] = pattern }
            if let values { schema["enum"] = values }
            return schema
        case .integer(let minimum, let maximum):
            var schema: [String: Any] = ["type": "integer"]
            if let minimum { schema["minimum"] = minimum }
            if let maximum { schema["maximum"] = maximum }
            return schema
        case .number: return ["type": "number"]
        case .boolean: return ["type": "boolean"]
        case .array(let items, let maxItems):
            var schema: [String: Any] = ["type": "array", "items": items.json(nullableOptionals: nullableOptionals)]
            if let maxItems { schema["maxItems"] = maxItems }
            return schema
        case .object(let properties, let required, let additional):
            var schema: [String: Any] = ["type": "object"]
            var byName: [String: Any] = [:]
            for (name, property) in properties {
                var json = property.json(nullableOptionals: nullableOptionals)
                if nullableOptionals, !required.contains(name), let type = json["type"] as? String { json["type"] = [type, "null"] }
                byName[name] = json
            }
            schema["properties"] = byName
            if !required.isEmpty { schema["required"] = required }
            // Closed: a request with a field the API does not know is refused, and an answer holds
            // exactly the fields documented.
            schema["additionalProperties"] = additional.map { $0.json(nullableOptionals: nullableOptionals) as Any } ?? false
            return schema
        case .anyObject: return ["type": "object"]
        case .named(let name, _): return ["$ref": "#/components/schemas/\(name)"]
        }
    }
}

/// A body type with its schema, listed under `components.schemas` by its name.
protocol Documented {
    static var schemaName: String { get }
    static var schema: Schema { get }
}

extension Documented {
    static var schemaName: String { String(describing: Self.self) }
}
