import Foundation
import Hummingbird

/// `/static/console.css`, `/static/console.js` and `/static/chart.js` (Chart.js as Debian's
/// `libjs-chart.js` installs it: no CDN, nothing fetched by the browser from elsewhere).
struct StaticFiles: Sendable {
    /// Chart.js's bytes, read once at start; nil when the package is not installed (the
    /// analytics page then shows tables only).
    let chartJS: [UInt8]?

    /// Where Debian's libjs-chart.js puts the browser (UMD) build: 3.9 in bookworm ships
    /// chart.min.js; Chart.js 4 calls it chart.umd.js.
    static let chartJSCandidates = [
        "/usr/share/javascript/chart.js/chart.min.js", "/usr/share/javascript/chart.js/chart.umd.min.js",
        "/usr/share/javascript/chart.js/chart.umd.js",
    ]

    init(chartJSPath: String?) {
        let paths = chartJSPath.map { [$0] } ?? Self.chartJSCandidates
        chartJS = paths.lazy.compactMap { FileManager.default.contents(atPath: $0) }.first.map { Array($0) }
    }

    func add(to router: Router<ConsoleContext>) {
        let css = Array(Self.css.utf8)
        let js = Array(Self.javascript.utf8)
        // Browsers ask for it on every site; without it they would follow the sign-in redirect.
        let icon = Array(Self.icon.utf8)
        router.get("favicon.ico") { _, _ in Self.file(icon, type: "image/svg+xml") }
        router.get("static/console.css") { _, _ in Self.file(css, type: "text/css; charset=utf-8") }
        router.get("static/console.js") { _, _ in Self.file(js, type: "text/javascript; charset=utf-8") }
        let chart = chartJS
        router.get("static/chart.js") { _, _ -> Response in
            guard let chart else {
                // An empty script keeps the page working: console.js draws charts only when Chart exists.
                return Self.file(Array("/* libjs-chart.js is not installed */".utf8), type: "text/javascript; charset=utf-8")
            }
            return Self.file(chart, type: "text/javascript; charset=utf-8")
        }
    }

    static func file(_ bytes: [UInt8], type: String) -> Response {
        Response(
            status: .ok, headers: [.contentType: type, .cacheControl: "public, max-age=3600"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// Live fragments (`data-live`: replaced by each server-sent `fragment` event) and charts
    /// (`data-chart`: a Chart.js configuration as JSON). Nothing else runs in the page.
    static let javascript = """
        "use strict";
        for (const element of document.querySelectorAll("[data-live]")) {
          const source = new EventSource(element.dataset.live);
          source.addEventListener("fragment", (event) => {
            element.innerHTML = event.data;
            element.classList.remove("stale");
          });
          source.addEventListener("error", () => element.classList.add("stale"));
        }
        if (window.Chart) {
          for (const canvas of document.querySelectorAll("canvas[data-chart]")) {
            new Chart(canvas, JSON.parse(canvas.dataset.chart));
          }
        }
        """

    static let icon = """
        <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#17324d"/>\
        <path d="M4 8h8M8 4v8" stroke="#fff" stroke-width="2"/></svg>
        """

    static let css = """
        :root { --ink: #1d2733; --muted: #5d6b7a; --line: #d8dee6; --accent: #0b63c5; --bad: #b3261e; --good: #1e7b34; --warn: #9a6700; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink); background: #f5f7fa; }
        header { display: flex; align-items: center; gap: 24px; padding: 10px 24px; background: #17324d; color: #fff; }
        header .brand { font-weight: 600; font-size: 16px; }
        header nav { display: flex; gap: 4px; flex: 1; }
        header nav a { color: #d6e4f2; text-decoration: none; padding: 6px 10px; border-radius: 4px; }
        header nav a.current, header nav a:hover { background: #25496e; color: #fff; }
        header .signout { display: flex; align-items: center; gap: 8px; margin: 0; }
        header .who { color: #d6e4f2; }
        main { padding: 16px 24px 48px; max-width: 1280px; }
        h1 { font-size: 22px; margin: 4px 0 12px; }
        h2 { font-size: 17px; margin: 18px 0 6px; }
        a { color: var(--accent); }
        table { border-collapse: collapse; width: 100%; background: #fff; border: 1px solid var(--line); margin: 6px 0 12px; }
        th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
        thead th { background: #eef2f6; font-weight: 600; font-size: 13px; }
        td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
        tr.replayed td { color: var(--muted); }
        meter { width: 120px; }
        .hint, .stamp { color: var(--muted); }
        .figures { display: flex; gap: 20px; margin: 4px 0; }
        .state { font-size: 12px; padding: 2px 8px; border-radius: 10px; background: #e4e8ee; vertical-align: middle; }
        .state.good { background: #dcf1e1; color: var(--good); }
        .state.bad { background: #f9dedc; color: var(--bad); }
        .state.warn { background: #fff1cc; color: var(--warn); }
        .group { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 4px 16px 8px; margin: 12px 0; }
        .group table { border: 0; }
        .problem, .warn { color: var(--bad); }
        .done { color: var(--good); font-weight: 600; }
        .confirm { background: #fff8e1; border: 1px solid #f0d68a; padding: 10px 12px; border-radius: 6px; }
        form.filter, form.replay, form.signin { display: flex; flex-wrap: wrap; gap: 10px; align-items: end; margin: 10px 0; }
        form.signin { flex-direction: column; align-items: stretch; max-width: 320px; }
        label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); gap: 2px; }
        label.check { flex-direction: row; align-items: center; gap: 6px; }
        input, select { font: inherit; padding: 5px 7px; border: 1px solid #b9c3ce; border-radius: 4px; color: var(--ink); }
        button { font: inherit; padding: 6px 12px; border: 1px solid var(--accent); background: var(--accent); color: #fff; border-radius: 4px; cursor: pointer; }
        button:disabled { background: #9fb4c9; border-color: #9fb4c9; cursor: default; }
        button.danger { background: var(--bad); border-color: var(--bad); }
        header button { background: transparent; border-color: #7f9bb8; }
        .class { font-family: ui-monospace, monospace; font-size: 12px; }
        pre.payload { background: #fff; border: 1px solid var(--line); padding: 12px; overflow: auto; max-height: 480px; white-space: pre-wrap; word-break: break-all; }
        dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; background: #fff; border: 1px solid var(--line); padding: 10px 14px; }
        dl.facts dt { color: var(--muted); }
        dl.facts dd { margin: 0; font-family: ui-monospace, monospace; }
        table.headers th { width: 220px; font-family: ui-monospace, monospace; font-weight: normal; color: var(--muted); }
        .charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(380px, 1fr)); gap: 12px; }
        figure { margin: 0; background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 10px; }
        figcaption { font-weight: 600; margin-bottom: 6px; }
        .stale { opacity: 0.6; }
        """
}
