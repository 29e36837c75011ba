import Analytics
import Contracts
import Foundation
import Hummingbird

/// `/analytics`: a clinic's figures per doctor and day as charts (bookings, utilisation,
/// declines by reason) and a table, from the analytics rollups.
struct AnalyticsRoutes {
    let services: ConsoleServices

    /// The longest stretch of days one page shows.
    static let maximumDays = 92

    struct Page {
        var tenants: [TenantOption]
        var from: String
        var to: String
        var problem: String?
        var bookingsChart: String
        var utilisationChart: String
        var declinesChart: String
        var rows: [Row]
    }

    struct TenantOption {
        var id: String
        var name: String
        var selected: Bool
    }

    struct Row {
        var doctor: String
        var day: String
        var requested: Int
        var booked: Int
        var declined: Int
        var cancelled: Int
        var completed: Int
        var utilisation: String
    }

    func add(to router: Router<ConsoleContext>) {
        router.get("analytics") { request, context -> Response in
            let query = HTMLForm(urlEncoded: request.uri.query ?? "")
            let clinics = try await services.tenants.tenants().map(\.tenant).filter { $0.id != Tenants.platformTenant }
            let chosen = query["tenant"].flatMap(UUID.init(uuidString:)).flatMap { id in clinics.first { $0.id == id } } ?? clinics.first
            let from = query["from"] ?? Self.day(-7)
            let to = query["to"] ?? Self.day(14)
            var page = Page(
                tenants: clinics.map { TenantOption(id: $0.id.canonical, name: $0.name, selected: $0.id == chosen?.id) }, from: from, to: to,
                problem: nil, bookingsChart: "{}", utilisationChart: "{}", declinesChart: "{}", rows: [])
            if let problem = Self.problem(from: from, to: to) {
                page.problem = problem
            } else if let chosen {
                let days = try await services.pool.withConnection {
                    try await AnalyticsReport.days(tenant: chosen.id, doctor: nil, from: from, to: to, on: $0)
                }
                page.rows = days.map { day in
                    let f = day.figures
                    return Row(
                        doctor: day.doctorName, day: day.day, requested: f.requested, booked: f.booked, declined: f.declined.values.reduce(0, +),
                        cancelled: f.cancelled.patient + f.cancelled.doctor + f.cancelled.clinic, completed: f.completed,
                        utilisation: f.utilisation.map { String(format: "%.0f %%", $0 * 100) } ?? "–")
                }
                let charts = AnalyticsCharts(days: days)
                page.bookingsChart = try charts.bookings()
                page.utilisationChart = try charts.utilisation()
                page.declinesChart = try charts.declines()
            } else {
                page.problem = "There is no clinic yet."
            }
            return try services.pages.page("analytics", page, title: "Analytics", section: .analytics, session: context.session, charts: true)
        }
    }

    /// `YYYY-MM-DD`, `offset` days from today (UTC).
    static func day(_ offset: Int) -> String {
        String(WireCoding.formatTimestamp(Date().addingTimeInterval(Double(offset) * 86400)).prefix(10))
    }

    static func problem(from: String, to: String) -> String? {
        guard let start = date(from), let end = date(to) else { return "From and To must be days, YYYY-MM-DD." }
        guard start <= end else { return "From must not be after To." }
        guard end.timeIntervalSince(start) / 86400 < Double(maximumDays) else { return "Show at most \(maximumDays) days at once." }
        return nil
    }

    static func date(_ text: String) -> Date? {
        guard text.count == 10 else { return nil }
        return WireCoding.parseTimestamp(text + "T00:00:00Z")
    }
}

/// Chart.js configurations (JSON) of a clinic's days.
struct AnalyticsCharts {
    let days: [DoctorDay]

    static let palette = ["#0b63c5", "#e07a1f", "#1e7b34", "#b3261e", "#6f42c1", "#0f8b8d", "#8a6d00", "#c2185b"]

    var labels: [String] { Array(Set(days.map(\.day))).sorted() }
    var doctors: [String] { Array(Set(days.map(\.doctorName))).sorted() }

    func bookings() throws -> String {
        try chart(type: "bar", stacked: true, datasets: doctors.enumerated().map { index, doctor in
            dataset(doctor, index, values: labels.map { day in days.first { $0.day == day && $0.doctorName == doctor }.map { $0.figures.booked } ?? 0 })
        })
    }

    func utilisation() throws -> String {
        try chart(type: "line", stacked: false, percent: true, datasets: doctors.enumerated().map { index, doctor in
            var set = dataset(doctor, index, values: labels.map { day -> Any in
                days.first { $0.day == day && $0.doctorName == doctor }?.figures.utilisation.map { ($0 * 1000).rounded() / 10 } ?? NSNull()
            })
            set["spanGaps"] = true
            set["fill"] = false
            return set
        })
    }

    func declines() throws -> String {
        let reasons = Array(Set(days.flatMap { $0.figures.declined.keys })).sorted()
        return try chart(type: "bar", stacked: true, datasets: reasons.enumerated().map { index, reason in
            dataset(reason.replacingOccurrences(of: "_", with: " "), index, values: labels.map { day in
                days.filter { $0.day == day }.reduce(0) { $0 + ($1.figures.declined[reason] ?? 0) }
            })
        })
    }

    func dataset(_ label: String, _ index: Int, values: [Any]) -> [String: Any] {
        let color = Self.palette[index % Self.palette.count]
        return ["label": label, "data": values, "backgroundColor": color, "borderColor": color]
    }

    func chart(type: String, stacked: Bool, percent: Bool = false, datasets: [[String: Any]]) throws -> String {
        var y: [String: Any] = ["stacked": stacked, "beginAtZero": true]
        if percent { y["max"] = 100 }
        let configuration: [String: Any] = [
            "type": type, "data": ["labels": labels, "datasets": datasets],
            // No animation: the chart is drawn at once (and screenshots show it whole).
            "options": ["animation": false, "responsive": true, "scales": ["x": ["stacked": stacked], "y": y]],
        ]
        return String(decoding: try JSONSerialization.data(withJSONObject: configuration, options: [.sortedKeys]), as: UTF8.self)
    }
}
