import Foundation
import TestSupport
import Testing

/// The OpenAPI document is exact: schemathesis (installed by scripts/bootstrap) fuzzes every
/// operation from it against a running ingress and fails on any 5xx, and on any answer whose
/// status, content type, headers or body the document does not describe, or any input the
/// document calls invalid that the API accepts.
@Suite("The OpenAPI document under fuzzing", .timeLimit(.minutes(15)))
struct OpenAPIFuzzTests {
    static let python = ServicesProcess.projectRoot.appendingPathComponent(".tools/venv/bin/python3").path

    /// schemathesis, with `ast.parse` taken by one thread at a time. Its two workers are threads,
    /// and hypothesis parses whole modules' source to describe lambdas; CPython 3.11 keeps the AST
    /// constructor's recursion depth per interpreter, not per thread, so two parses at once can
    /// fail with "AST constructor recursion depth mismatch" (CPython gh-106905). That crash of the
    /// tool, not a finding about the API, failed this test twice in one run (both seeds).
    static let schemathesis = """
        import ast, sys, threading
        from schemathesis.cli import schemathesis
        lock = threading.Lock()
        parse = ast.parse
        def serialised(*args, **kwargs):
            with lock:
                return parse(*args, **kwargs)
        ast.parse = serialised
        sys.argv[0] = "schemathesis"
        sys.exit(schemathesis())
        """

    /// Checks that hold for every operation. `positive_data_acceptance` is left out: valid input
    /// can still be refused (an unknown id is a 404, a slot may be taken).
    static let checks = [
        "not_a_server_error", "status_code_conformance", "content_type_conformance", "response_headers_conformance",
        "response_schema_conformance", "negative_data_rejection", "missing_required_header", "unsupported_method",
        "allow_header_conformance", "ignored_auth",
    ]

    @Test func everyOperationHoldsToTheDocument() async throws {
        let installed = ServicesProcess.projectRoot.appendingPathComponent(".tools/venv/bin/schemathesis").path
        guard FileManager.default.isExecutableFile(atPath: installed), FileManager.default.isExecutableFile(atPath: Self.python) else {
            Issue.record("schemathesis is not installed at \(installed): run scripts/bootstrap")
            return
        }
        try await TestFleet.with { fleet in
            let admin = try await fleet.admin()
            let doctor = try await fleet.doctor(by: admin)
            let patient = try await fleet.register("Fuzzed")
            // Some real data for the reads to find.
            let slot = try await fleet.firstFreeSlot(doctor.id, token: patient.accessToken)
            _ = try await fleet.book(patient, doctor: doctor.id, startsAt: slot.startsAt)
            let examples = ProcessInfo.processInfo.environment["CAREFLEET_FUZZ_EXAMPLES"] ?? "20"
            let seed = Int(ProcessInfo.processInfo.environment["CAREFLEET_FUZZ_SEED"] ?? "") ?? 20_261_125
            // As an admin (who may do most), then as a patient (who is refused much of it).
            for token in [admin.accessToken, patient.accessToken] {
                var output = try await Self.fuzz(fleet.baseURL, token: token, examples: examples, seed: seed)
                // A crash of the tool itself (seen: CPython 3.11's "AST constructor recursion depth
                // mismatch" inside hypothesis) is not a finding about the API: once more, another seed.
                if output.status != 0, !output.text.contains("Failures:"), output.text.contains("Runtime Error") {
                    output = try await Self.fuzz(fleet.baseURL, token: token, examples: examples, seed: seed + 1)
                }
                // Nothing but requests that took longer than the 10 s the tool waits (seen once in
                // CI: two POSTs, on a 2-core machine running other suites and a browser) is load,
                // not a wrong answer: the same run once more. A request that hangs hangs again.
                if output.status != 0, !output.text.contains("FAILURES"), output.text.contains("Network Error"),
                    !output.text.contains("Server Unavailable")
                {
                    print("schemathesis: requests timed out under load; running the same seed once more:\n\(output.text.suffix(3_000))")
                    output = try await Self.fuzz(fleet.baseURL, token: token, examples: examples, seed: seed)
                }
                let findings = output.text.range(of: "FAILURES").map { String(output.text[$0.lowerBound...]) } ?? output.text
                #expect(output.status == 0, "schemathesis found answers the document does not describe:\n\(findings.prefix(20_000))")
            }
        }
    }

    static func fuzz(_ baseURL: String, token: String, examples: String, seed: Int) async throws -> ServicesProcess.Outcome {
        let report = FileManager.default.temporaryDirectory.appendingPathComponent("schemathesis-\(UUID().uuidString)").path
        return try await ServicesProcess.run(
            [
                "-c",
                """
                exec "\(Self.python)" -c '\(Self.schemathesis)' run "\(baseURL)/openapi.json" \
                  -H "Authorization: Bearer \(token)" \
                  --checks \(Self.checks.joined(separator: ",")) \
                  --max-examples \(examples) --seed \(seed) --workers 2 --request-timeout 10 \
                  --exclude-path /v1/auth/logout --exclude-path /v1/auth/change-password \
                  --exclude-path-regex '^/v1/auth/sessions/' \
                  --report junit --report-dir "\(report)" --no-color 2>&1
                """,
            ], allowFailure: true)
    }
}
