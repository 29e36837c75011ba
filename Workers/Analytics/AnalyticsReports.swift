import Foundation
import Postgres

/// The rollups as reports, for the API (`analytics` schema, owned by the analytics worker).
public protocol AnalyticsReports: Sendable {
    /// A doctor's days; nil when the doctor is not one of the tenant's.
    func doctor(_ doctor: UUID, tenant: UUID, from: String, to: String) async throws -> DoctorReport?
    func summary(tenant: UUID, from: String, to: String) async throws -> SummaryReport
}

public struct PostgresAnalyticsReports: AnalyticsReports {
    let pool: PostgresPool

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    public func doctor(_ doctor: UUID, tenant: UUID, from: String, to: String) async throws -> DoctorReport? {
        try await pool.withConnection { try await AnalyticsReport.doctor(doctor, tenant: tenant, from: from, to: to, on: $0) }
    }

    public func summary(tenant: UUID, from: String, to: String) async throws -> SummaryReport {
        try await pool.withConnection { try await AnalyticsReport.summary(tenant: tenant, from: from, to: to, on: $0) }
    }
}
