import Contracts
import Foundation
import Postgres

/// A doctor's figures for one local day (or totals over several).
public struct DayFigures: Codable, Sendable, Equatable {
    public var requested = 0
    public var booked = 0
    public var declined: [String: Int] = [:]
    public var confirmed = 0
    public var rejected = 0
    public var cancelled = Cancellations()
    public var completed = 0
    public var noShows = 0
    public var bookedMinutes = 0
    public var availableMinutes = 0
    /// booked ÷ available minutes (nil when the doctor does not work that day).
    public var utilisation: Double?
    public var leadTime = LeadTime()

    public struct Cancellations: Codable, Sendable, Equatable {
        public var patient = 0
        public var doctor = 0
        public var clinic = 0
    }

    /// Request → appointment start, in minutes.
    public struct LeadTime: Codable, Sendable, Equatable {
        public var count = 0
        public var mean: Double?
        public var p50: Double?
        public var p90: Double?
    }

    public init() {}

    /// Sums counts and minutes; lead-time percentiles of a period are not sums, so totals keep
    /// the count and a weighted mean only.
    public mutating func add(_ other: DayFigures) {
        requested += other.requested
        booked += other.booked
        for (reason, count) in other.declined { declined[reason, default: 0] += count }
        confirmed += other.confirmed
        rejected += other.rejected
        cancelled.patient += other.cancelled.patient
        cancelled.doctor += other.cancelled.doctor
        cancelled.clinic += other.cancelled.clinic
        completed += other.completed
        noShows += other.noShows
        bookedMinutes += other.bookedMinutes
        availableMinutes += other.availableMinutes
        utilisation = availableMinutes > 0 ? Double(bookedMinutes) / Double(availableMinutes) : nil
        let count = leadTime.count + other.leadTime.count
        if count > 0 {
            let total = (leadTime.mean ?? 0) * Double(leadTime.count) + (other.leadTime.mean ?? 0) * Double(other.leadTime.count)
            leadTime.mean = total / Double(count)
        }
        leadTime.count = count
        leadTime.p50 = nil
        leadTime.p90 = nil
    }
}

public struct DoctorDay: Codable, Sendable, Equatable {
    public var doctorId: UUID
    public var doctorName: String
    public var day: String
    public var figures: DayFigures
}

public struct DoctorReport: Codable, Sendable, Equatable {
    public var doctorId: UUID
    public var doctorName: String
    public var from: String
    public var to: String
    public var days: [DoctorDay]
    public var totals: DayFigures
}

public struct SummaryReport: Codable, Sendable, Equatable {
    public struct DoctorTotals: Codable, Sendable, Equatable {
        public var doctorId: UUID
        public var doctorName: String
        public var totals: DayFigures
    }

    public var from: String
    public var to: String
    public var doctors: [DoctorTotals]
    public var totals: DayFigures

    public init(from: String, to: String, doctors: [DoctorTotals], totals: DayFigures) {
        self.from = from
        self.to = to
        self.doctors = doctors
        self.totals = totals
    }
}

/// Reads the rollups (`analytics.report` in SQL) into reports, and writes them as CSV.
public enum AnalyticsReport {
    public static func days(tenant: UUID, doctor: UUID?, from: String, to: String, on connection: PostgresConnection)
        async throws -> [DoctorDay]
    {
        let rows = try await connection.query(
            "SELECT * FROM analytics.report($1, $2, $3::date, $4::date)", [tenant, doctor, from, to])
        return try rows.map { row in
            var figures = DayFigures()
            figures.requested = try row.decode(Int.self, "requested")
            figures.booked = try row.decode(Int.self, "booked")
            figures.confirmed = try row.decode(Int.self, "confirmed")
            figures.rejected = try row.decode(Int.self, "rejected")
            figures.cancelled = .init(
                patient: try row.decode(Int.self, "cancelled_by_patient"), doctor: try row.decode(Int.self, "cancelled_by_doctor"),
                clinic: try row.decode(Int.self, "cancelled_by_clinic"))
            figures.completed = try row.decode(Int.self, "completed")
            figures.noShows = try row.decode(Int.self, "no_shows")
            figures.bookedMinutes = try row.decode(Int.self, "booked_minutes")
            figures.availableMinutes = try row.decode(Int.self, "available_minutes")
            figures.utilisation = figures.availableMinutes > 0 ? Double(figures.bookedMinutes) / Double(figures.availableMinutes) : nil
            figures.declined = try row.decodeJSON([String: Int].self, "declined")
            figures.leadTime = .init(
                count: try row.decode(Int.self, "lead_count"), mean: try row.decode(Double?.self, "lead_mean"),
                p50: try row.decode(Double?.self, "lead_p50"), p90: try row.decode(Double?.self, "lead_p90"))
            return DoctorDay(
                doctorId: try row.decode(UUID.self, "doctor_id"), doctorName: try row.decode(String.self, "doctor_name"),
                day: String(try row.decode(String.self, "day").prefix(10)), figures: figures)
        }
    }

    public static func doctor(_ doctor: UUID, tenant: UUID, from: String, to: String, on connection: PostgresConnection)
        async throws -> DoctorReport?
    {
        let days = try await days(tenant: tenant, doctor: doctor, from: from, to: to, on: connection)
        guard let first = days.first else { return nil }
        var totals = DayFigures()
        for day in days { totals.add(day.figures) }
        return DoctorReport(doctorId: doctor, doctorName: first.doctorName, from: from, to: to, days: days, totals: totals)
    }

    public static func summary(tenant: UUID, from: String, to: String, on connection: PostgresConnection) async throws
        -> SummaryReport
    {
        let days = try await days(tenant: tenant, doctor: nil, from: from, to: to, on: connection)
        var doctors: [SummaryReport.DoctorTotals] = []
        var totals = DayFigures()
        for day in days {
            if doctors.last?.doctorId != day.doctorId {
                doctors.append(.init(doctorId: day.doctorId, doctorName: day.doctorName, totals: DayFigures()))
            }
            doctors[doctors.count - 1].totals.add(day.figures)
            totals.add(day.figures)
        }
        return SummaryReport(from: from, to: to, doctors: doctors, totals: totals)
    }

    // MARK: - CSV

    public static let declineReasons = DeclineReason.allCases.map(\.rawValue)

    public static var csvHeader: [String] {
        ["doctor_id", "doctor_name", "day", "requested", "booked"] + declineReasons.map { "declined_\($0)" } + [
            "confirmed", "rejected", "cancelled_by_patient", "cancelled_by_doctor", "cancelled_by_clinic", "completed", "no_shows",
            "booked_minutes", "available_minutes", "utilisation", "lead_time_count", "lead_time_mean", "lead_time_p50",
            "lead_time_p90",
        ]
    }

    public static func csvRow(doctorId: UUID?, doctorName: String, day: String, _ f: DayFigures) -> [String] {
        func number(_ value: Double?) -> String { value.map { String(format: "%.4f", $0) } ?? "" }
        return [doctorId?.canonical ?? "", doctorName, day, String(f.requested), String(f.booked)]
            + declineReasons.map { String(f.declined[$0] ?? 0) } + [
                String(f.confirmed), String(f.rejected), String(f.cancelled.patient), String(f.cancelled.doctor),
                String(f.cancelled.clinic), String(f.completed), String(f.noShows), String(f.bookedMinutes),
                String(f.availableMinutes), number(f.utilisation), String(f.leadTime.count), number(f.leadTime.mean),
                number(f.leadTime.p50), number(f.leadTime.p90),
            ]
    }

    /// RFC 4180: fields with commas, quotes or line breaks are quoted; lines end in CRLF. A text
    /// field that a spreadsheet would run as a formula (`=`, `+`, `-`, `@` first) is prefixed with
    /// `'` (OWASP's CSV-injection advice); numbers are left as they are.
    public static func csv(_ rows: [[String]]) -> String {
        rows.map { row in
            row.map { raw in
                let field = raw.first.map { "=+-@".contains($0) } == true && Double(raw) == nil ? "'" + raw : raw
                return field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
                    ? "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : field
            }.joined(separator: ",")
        }.joined(separator: "\r\n") + "\r\n"
    }

    public static func csv(_ report: DoctorReport) -> String {
        csv([csvHeader] + report.days.map { csvRow(doctorId: $0.doctorId, doctorName: $0.doctorName, day: $0.day, $0.figures) }
            + [csvRow(doctorId: report.doctorId, doctorName: report.doctorName, day: "total", report.totals)])
    }

    public static func csv(_ report: SummaryReport) -> String {
        csv([csvHeader] + report.doctors.map { csvRow(doctorId: $0.doctorId, doctorName: $0.doctorName, day: "total", $0.totals) }
            + [csvRow(doctorId: nil, doctorName: "all doctors", day: "total", report.totals)])
    }
}
