import Foundation

/// The one JSON dialect of every message: sorted keys (so the same message always has the
/// same bytes) and ISO-8601 UTC times with milliseconds.
public enum WireCoding {
    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(formatTimestamp(date))
        }
        return encoder
    }

    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let date = parseTimestamp(text) else {
                throw DecodingError.dataCorruptedError(
                    in: container, debugDescription: "'\(text)' is not an ISO-8601 timestamp")
            }
            return date
        }
        return decoder
    }

    /// `2026-11-24T09:00:00.000Z`
    public static func formatTimestamp(_ date: Date) -> String {
        date.formatted(withFraction)
    }

    /// Accepts ISO-8601 with or without fractional seconds, with `Z` or an offset.
    public static func parseTimestamp(_ text: String) -> Date? {
        if let date = try? withFraction.parse(text) { return date }
        return try? Date.ISO8601FormatStyle().parse(text)
    }

    private static let withFraction = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
}
