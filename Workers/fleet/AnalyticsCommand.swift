import Analytics
import ArgumentParser
import Clinic
import Contracts
import Foundation
import Kafka
import Postgres
import Runtime

struct AnalyticsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "analytics", abstract: "Show or rebuild the calendar analytics.", subcommands: [Show.self, Rebuild.self])

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Each doctor's figures per day, and totals, as a table.")

        @OptionGroup var global: GlobalOptions
        @Option(help: "The tenant (clinic) id.") var tenant: String
        @Option(help: "First local day, YYYY-MM-DD.") var from: String
        @Option(help: "Last local day, YYYY-MM-DD.") var to: String
        @Flag(help: "CSV instead of a table.") var csv = false

        /// The days go to PostgreSQL as dates: one it cannot hold (year 0, February 30) is named
        /// here, not answered with its error.
        func validate() throws {
            for (option, day) in [("--from", from), ("--to", to)] {
                guard CalendarDate.isValid(day), day >= "1900", day < "2200" else {
                    throw failure("\(option) must be a date YYYY-MM-DD between 1900-01-01 and 2199-12-31 (got '\(day)')")
                }
            }
            guard to >= from else { throw failure("--to must not be before --from") }
        }

        func run() async throws {
            let config = try global.load()
            guard let tenantId = UUID(uuidString: tenant) else { throw failure("--tenant must be a UUID") }
            let pool = PostgresPool(url: try config.require("database.url"), maximumConnections: 1, applicationName: "fleet-analytics")
            defer { pool.close() }
            let days = try await pool.withConnection {
                try await AnalyticsReport.days(tenant: tenantId, doctor: nil, from: from, to: to, on: $0)
            }
            var rows = [AnalyticsReport.csvHeader]
            for day in days { rows.append(AnalyticsReport.csvRow(doctorId: day.doctorId, doctorName: day.doctorName, day: day.day, day.figures)) }
            let summary = try await pool.withConnection { try await AnalyticsReport.summary(tenant: tenantId, from: from, to: to, on: $0) }
            for doctor in summary.doctors {
                rows.append(AnalyticsReport.csvRow(doctorId: doctor.doctorId, doctorName: doctor.doctorName, day: "total", doctor.totals))
            }
            rows.append(AnalyticsReport.csvRow(doctorId: nil, doctorName: "all doctors", day: "total", summary.totals))
            if csv {
                print(AnalyticsReport.csv(rows), terminator: "")
            } else {
                // The table keeps the columns people read first; --csv has every figure.
                let wanted = [
                    "doctor_name", "day", "requested", "booked", "confirmed", "rejected", "cancelled_by_patient", "cancelled_by_doctor",
                    "cancelled_by_clinic", "completed", "no_shows", "booked_minutes", "available_minutes", "utilisation",
                    "lead_time_mean",
                ]
                let indices = wanted.compactMap { AnalyticsReport.csvHeader.firstIndex(of: $0) }
                print(Table.render(rows.map { row in indices.map { row[$0] } }))
            }
        }
    }

    struct Rebuild: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recompute the rollups from the events topic's beginning and swap them in atomically.",
            discussion: "The live analytics worker keeps running; events that arrive meanwhile are counted too.")

        @OptionGroup var global: GlobalOptions
        @Option(help: "Only this tenant's rollups (default: every tenant).") var tenant: String?

        func run() async throws {
            let config = try global.load()
            let tenantId = try tenant.map { text -> UUID in
                guard let id = UUID(uuidString: text) else { throw failure("--tenant must be a UUID") }
                return id
            }
            let pool = PostgresPool(url: try config.require("database.url"), maximumConnections: 2, applicationName: "fleet-analytics")
            defer { pool.close() }
            let topic = try config.namespace().topicName(Contracts.Topics.appointmentEvents.name)
            let bar = Locked<ProgressBar?>(nil)
            let outcome = try await AnalyticsRebuild(
                pool: pool, kafka: KafkaConfig(properties: config.subtree("kafka")), eventsTopic: topic, tenant: tenantId
            ).run { done, total in
                bar.withLock { bar in
                    if bar == nil { bar = ProgressBar(total: total) }
                    bar?.set(done)
                }
            }
            bar.withLock { $0?.finish() }
            print("rebuilt from \(outcome.events) events (\(outcome.counted) counted) for \(tenantId.map { "tenant \($0)" } ?? "every tenant")")
            if outcome.undecodable > 0 {
                print("skipped \(outcome.undecodable) events that do not decode (they are in the analytics worker's dead-letter topic)")
            }
        }
    }
}
