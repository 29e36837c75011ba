/// Polls `condition` until it holds; throws (failing the test) after `timeout`.
public func eventually(
    timeout: Duration = .seconds(30), _ what: String = "", _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while try await !condition() {
        guard ContinuousClock.now < deadline else { throw FixtureError("not within \(timeout): \(what)") }
        try await Task.sleep(for: .milliseconds(50))
    }
}
