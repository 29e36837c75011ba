import Foundation

/// The fields of an `application/x-www-form-urlencoded` body or query (a repeated name keeps
/// every value, in order).
public struct HTMLForm: Sendable, Equatable {
    public private(set) var fields: [(name: String, value: String)] = []

    public init() {}

    public init(urlEncoded text: String) {
        for pair in text.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            fields.append((Self.decode(parts[0]), parts.count > 1 ? Self.decode(parts[1]) : ""))
        }
    }

    public subscript(name: String) -> String? { fields.first { $0.name == name }?.value }

    public func all(_ name: String) -> [String] { fields.filter { $0.name == name }.map(\.value) }

    /// `+` is a space; a malformed escape is kept as it is rather than failing the whole form.
    static func decode(_ text: Substring) -> String {
        let spaced = text.replacingOccurrences(of: "+", with: " ")
        return spaced.removingPercentEncoding ?? spaced
    }

    public static func == (a: HTMLForm, b: HTMLForm) -> Bool {
        a.fields.map(\.name) == b.fields.map(\.name) && a.fields.map(\.value) == b.fields.map(\.value)
    }
}
