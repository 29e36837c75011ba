import Foundation
import TestSupport

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Headless Chromium driven through chromedriver's W3C WebDriver protocol: plain JSON over HTTP.
final class WebDriver: @unchecked Sendable {  // used by one test task at a time
    static let chromium = "/usr/bin/chromium"
    static let chromedriver = "/usr/bin/chromedriver"

    /// Whether Debian's chromium and chromium-driver are installed (scripts/bootstrap installs them).
    static var isInstalled: Bool {
        let installed = FileManager.default.isExecutableFile(atPath: chromium) && FileManager.default.isExecutableFile(atPath: chromedriver)
        if !installed {
            FileHandle.standardError.write(
                Data(
                    """

                    ************************************************************************************
                    *  SKIPPING the console's browser test: \(chromium) or \(chromedriver) is missing.
                    *  Install them with scripts/bootstrap (apt-get install chromium chromium-driver).
                    ************************************************************************************

                    """.utf8))
        }
        return installed
    }

    let driver: Process
    let base: String
    let session: String
    private let logPath: String

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Starts chromedriver on a free port and opens a headless browser window of `width`×`height`.
    init(width: Int = 1280, height: Int = 1000) async throws {
        let port = try freeLoopbackPort()
        logPath = NSTemporaryDirectory() + "chromedriver-\(port).log"
        driver = Process()
        driver.executableURL = URL(fileURLWithPath: Self.chromedriver)
        driver.arguments = ["--port=\(port)", "--log-path=\(logPath)"]
        driver.standardInput = FileHandle.nullDevice
        driver.standardOutput = FileHandle.nullDevice
        driver.standardError = FileHandle.nullDevice
        // A plain environment: the test runner's (its library path among it) is not the browser's.
        driver.environment = ["PATH": "/usr/bin:/bin", "HOME": NSTemporaryDirectory()]
        try driver.run()
        base = "http://127.0.0.1:\(port)"
        let deadline = ContinuousClock.now + .seconds(20)
        while true {
            if let status = try? await Self.request("GET", base + "/status", nil, timeout: 2), Self.bool((status["value"] as? [String: Any])?["ready"]) { break }
            guard ContinuousClock.now < deadline else {
                let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
                let last = try? await Self.request("GET", base + "/status", nil, timeout: 2)
                Self.stop(driver)
                throw Failure(
                    description: "chromedriver did not become ready on port \(port) (running: \(driver.isRunning), status: \(String(describing: last)), log: \(log.suffix(2000)))")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        let capabilities: [String: Any] = [
            "capabilities": [
                "alwaysMatch": [
                    "browserName": "chrome",
                    "goog:chromeOptions": [
                        "binary": Self.chromium,
                        "args": [
                            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=\(width),\(height)",
                            "--hide-scrollbars", "--force-device-scale-factor=1",
                        ],
                    ],
                ]
            ]
        ]
        let created = try await Self.request("POST", base + "/session", capabilities)
        guard let value = created["value"] as? [String: Any], let id = value["sessionId"] as? String else {
            Self.stop(driver)
            throw Failure(description: "no WebDriver session: \(created)")
        }
        session = id
    }

    /// A JSON boolean (Foundation on Linux may hand it over as an NSNumber).
    static func bool(_ value: Any?) -> Bool {
        (value as? Bool) ?? (value as? NSNumber)?.boolValue ?? false
    }

    /// A JSON number as an Int.
    static func int(_ value: Any?) -> Int? {
        (value as? Int) ?? (value as? NSNumber)?.intValue
    }

    /// Kills chromedriver. Not SIGTERM: a child of the test process inherits the signal mask of
    /// the thread that started it (the test runner's threads block SIGTERM), and a chromedriver
    /// that never sees the signal would keep the test waiting for its exit for ever.
    private static func stop(_ driver: Process) {
        guard driver.isRunning else { return }
        kill(driver.processIdentifier, SIGKILL)
        driver.waitUntilExit()
    }

    /// Ends the browser and chromedriver.
    func quit() async {
        _ = try? await Self.request("DELETE", "\(base)/session/\(session)", nil)
        Self.stop(driver)
        try? FileManager.default.removeItem(atPath: logPath)
    }

    // MARK: - Commands

    func open(_ url: String) async throws {
        _ = try await command("POST", "url", ["url": url])
    }

    var currentURL: String {
        get async throws { try await command("GET", "url", nil) as? String ?? "" }
    }

    /// The element matching the CSS selector, or throws.
    func element(_ selector: String) async throws -> Element {
        let value = try await command("POST", "element", ["using": "css selector", "value": selector])
        guard let object = value as? [String: Any], let id = object[Element.key] as? String else {
            throw Failure(description: "no element \(selector)")
        }
        return Element(driver: self, id: id)
    }

    /// How many elements match the CSS selector.
    func count(_ selector: String) async throws -> Int {
        (try await command("POST", "elements", ["using": "css selector", "value": selector]) as? [Any])?.count ?? 0
    }

    /// Runs `script` in the page; its result.
    @discardableResult
    func execute(_ script: String, _ arguments: [Any] = []) async throws -> Any? {
        try await command("POST", "execute/sync", ["script": script, "args": arguments])
    }

    /// A PNG of the window, written to `path`.
    func screenshot(to path: String) async throws {
        guard let text = try await command("GET", "screenshot", nil) as? String, let png = Data(base64Encoded: text) else {
            throw Failure(description: "no screenshot")
        }
        try FileManager.default.createDirectory(
            atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path, withIntermediateDirectories: true)
        try png.write(to: URL(fileURLWithPath: path))
    }

    /// Whether a JavaScript dialog (alert, confirm) is open.
    var hasDialog: Bool {
        get async { (try? await command("GET", "alert/text", nil)) != nil }
    }

    /// Waits until `condition` holds (polled every 200 ms), or throws naming `what`.
    func wait(_ what: String, timeout: Duration = .seconds(15), _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while true {
            if (try? await condition()) == true { return }
            guard ContinuousClock.now < deadline else { throw Failure(description: "timed out waiting for \(what)") }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    struct Element {
        static let key = "element-6066-11e4-a52e-4f735466cecf"
        let driver: WebDriver
        let id: String

        var text: String {
            get async throws { try await driver.command("GET", "element/\(id)/text", nil) as? String ?? "" }
        }

        func click() async throws { _ = try await driver.command("POST", "element/\(id)/click", [:]) }

        func type(_ text: String) async throws { _ = try await driver.command("POST", "element/\(id)/value", ["text": text]) }

        func attribute(_ name: String) async throws -> String? {
            try await driver.command("GET", "element/\(id)/attribute/\(name)", nil) as? String
        }
    }

    /// A session command; its `value`, or throws with WebDriver's error.
    func command(_ method: String, _ path: String, _ body: [String: Any]?) async throws -> Any? {
        let answer = try await Self.request(method, "\(base)/session/\(session)/\(path)", body)
        if let value = answer["value"] as? [String: Any], let error = value["error"] as? String {
            throw Failure(description: "\(method) \(path): \(error): \(value["message"] as? String ?? "")")
        }
        return answer["value"]
    }

    static func request(_ method: String, _ url: String, _ body: [String: Any]?, timeout: TimeInterval = 60) async throws -> [String: Any] {
        guard let address = URL(string: url), address.host == "127.0.0.1", let port = address.port else {
            throw Failure(description: "not a URL on 127.0.0.1: \(url)")
        }
        let payload = try body.map { try JSONSerialization.data(withJSONObject: $0) }
        let answer = try await LoopbackHTTP.request(method: method, port: port, path: address.path, body: payload, timeout: timeout)
        return (try JSONSerialization.jsonObject(with: answer.body) as? [String: Any]) ?? [:]
    }
}
