/// The console's pages as Mustache templates. `{{name}}` is HTML-escaped; `{{{name}}}` is used
/// only for HTML this module rendered itself (a page's content inside the layout).
enum PageTemplates {
    static let all: [String: String] = [
        "layout": layout, "signin": signIn, "groups": groups, "groups-live": groupsLive, "deadletters": deadLetters,
        "deadletter-topic": deadLetterTopic, "deadletter": deadLetter, "replay-plan": replayPlan, "replay-done": replayDone,
        "workers": workers, "workers-live": workersLive, "analytics": analytics, "message": message,
    ]

    static let layout = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{title}} · CareFleet console</title>
        <link rel="stylesheet" href="/static/console.css">
        </head>
        <body>
        <header>
        <span class="brand">CareFleet console</span>
        {{#signedIn}}
        <nav>
        <a href="/groups" class="{{#nav.groups}}current{{/nav.groups}}">Consumer groups</a>
        <a href="/dlq" class="{{#nav.dlq}}current{{/nav.dlq}}">Dead letters</a>
        <a href="/workers" class="{{#nav.workers}}current{{/nav.workers}}">Workers</a>
        <a href="/analytics" class="{{#nav.analytics}}current{{/nav.analytics}}">Analytics</a>
        </nav>
        <form method="post" action="/logout" class="signout">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <span class="who">{{email}}</span>
        <button type="submit" id="signout">Sign out</button>
        </form>
        {{/signedIn}}
        </header>
        <main>
        <h1>{{title}}</h1>
        {{{content}}}
        </main>
        {{#charts}}<script src="/static/chart.js"></script>{{/charts}}
        <script src="/static/console.js"></script>
        </body>
        </html>
        """

    static let signIn = """
        <p>Platform operators only. Accounts are made with <code>fleet platform-operators create</code>.</p>
        {{#problem}}<p class="problem" id="problem">{{problem}}</p>{{/problem}}
        <form method="post" action="/login" class="signin">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <label>Email <input type="email" name="email" id="email" value="{{email}}" required autocomplete="username"></label>
        <label>Password <input type="password" name="password" id="password" required autocomplete="current-password"></label>
        <button type="submit" id="signin">Sign in</button>
        </form>
        """

    static let groups = """
        <p class="hint">Committed offset, high watermark and lag of every partition, updated every second. Retry partitions
        that never held a message are left out.</p>
        <div id="groups" data-live="/groups/stream">{{{live}}}</div>
        """

    static let groupsLive = """
        <p class="stamp">as of <time id="groups-stamp">{{stamp}}</time></p>
        {{#groups}}
        <section class="group" id="group-{{name}}">
        <h2>{{name}} <span class="state {{stateClass}}">{{state}}</span></h2>
        <p class="figures">
        <span>lag <b class="lag-total" id="lag-total-{{name}}">{{total}}</b></span>
        <span>members <b>{{memberCount}}</b></span>
        <span>consumed <b class="rate">{{rate}}</b> msg/s</span>
        </p>
        {{#membersError}}<p class="warn">Members unavailable: {{membersError}}</p>{{/membersError}}
        {{#hasMembers}}
        <table class="members">
        <thead><tr><th>Member</th><th>Host</th><th>Partitions</th></tr></thead>
        <tbody>
        {{#members}}<tr><td>{{clientId}}</td><td>{{host}}</td><td>{{partitions}}</td></tr>{{/members}}
        </tbody>
        </table>
        {{/hasMembers}}
        <table class="lag">
        <thead><tr><th>Topic</th><th class="num">Partition</th><th>Member</th><th class="num">Committed</th><th class="num">High</th><th class="num">Lag</th><th></th></tr></thead>
        <tbody>
        {{#partitions}}<tr><td>{{topic}}</td><td class="num">{{partition}}</td><td>{{member}}</td><td class="num">{{committed}}</td><td class="num">{{high}}</td><td class="num lag">{{lag}}</td><td><meter min="0" max="{{scale}}" value="{{lag}}"></meter></td></tr>
        {{/partitions}}
        </tbody>
        </table>
        {{#hidden}}<p class="hint">{{hidden}} empty retry partitions not shown.</p>{{/hidden}}
        </section>
        {{/groups}}
        {{^groups}}<p>No consumer groups.</p>{{/groups}}
        """

    static let deadLetters = """
        <p class="hint">Dead-letter topics: messages a worker could not handle. <b>Waiting</b> counts those not replayed yet.</p>
        <table class="deadletters" id="deadletter-topics">
        <thead><tr><th>Topic</th><th>Group</th><th class="num">Depth</th><th class="num">Waiting</th><th>Newest</th><th>Newest error</th></tr></thead>
        <tbody>
        {{#topics}}<tr id="dlq-{{topic}}"><td><a href="/dlq/{{topic}}">{{topic}}</a></td><td>{{group}}</td><td class="num">{{depth}}</td><td class="num waiting">{{waiting}}</td><td>{{newest}}</td><td><span class="class">{{errorClass}}</span> {{error}}</td></tr>
        {{/topics}}
        {{^topics}}<tr><td colspan="6">No dead-letter topics.</td></tr>{{/topics}}
        </tbody>
        </table>
        """

    static let filterForm = """
        <form method="get" action="/dlq/{{topic}}" class="filter">
        <label>Error class <input name="errorClass" value="{{filter.errorClass}}"></label>
        <label>Key <input name="key" value="{{filter.key}}"></label>
        <label>Since <input name="since" value="{{filter.since}}" placeholder="2026-12-01T00:00:00Z"></label>
        <label>Until <input name="until" value="{{filter.until}}" placeholder="2026-12-02T00:00:00Z"></label>
        <label class="check"><input type="checkbox" name="replayed" value="1" {{#filter.showReplayed}}checked{{/filter.showReplayed}}> show replayed</label>
        <button type="submit">Filter</button>
        </form>
        """

    static let deadLetterTopic = """
        <p><a href="/dlq">← all dead-letter topics</a></p>
        \(filterForm)
        {{#problem}}<p class="problem">{{problem}}</p>{{/problem}}
        <p class="figures"><span>matching <b id="matching">{{count}}</b></span><span>waiting <b id="waiting">{{waiting}}</b></span>{{#truncated}}<span>showing the oldest {{shown}}</span>{{/truncated}}</p>
        <form method="post" action="/dlq/{{topic}}/plan" class="replay">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <input type="hidden" name="errorClass" value="{{filter.errorClass}}">
        <input type="hidden" name="key" value="{{filter.key}}">
        <input type="hidden" name="since" value="{{filter.since}}">
        <input type="hidden" name="until" value="{{filter.until}}">
        <button type="submit" id="dry-run" {{^hasWaiting}}disabled{{/hasWaiting}}>Dry run: replay the {{waiting}} waiting messages that match…</button>
        </form>
        <table class="letters" id="letters">
        <thead><tr><th>Position</th><th>Key</th><th>Dead-lettered</th><th>Error class</th><th>Error</th><th>Replayed to</th></tr></thead>
        <tbody>
        {{#letters}}<tr id="letter-{{partition}}-{{offset}}" class="{{#replayedTo}}replayed{{/replayedTo}}"><td><a href="/dlq/{{topic}}/{{partition}}/{{offset}}">{{partition}}/{{offset}}</a></td><td>{{key}}</td><td>{{at}}</td><td class="class">{{errorClass}}</td><td>{{error}}</td><td>{{replayedTo}}</td></tr>
        {{/letters}}
        {{^letters}}<tr><td colspan="6">No messages match.</td></tr>{{/letters}}
        </tbody>
        </table>
        """

    static let deadLetter = """
        <p><a href="/dlq/{{topic}}">← {{topic}}</a></p>
        <dl class="facts">
        <dt>Position</dt><dd>{{position}}</dd>
        <dt>Key</dt><dd>{{key}}</dd>
        <dt>Dead-lettered</dt><dd>{{at}}</dd>
        <dt>Replays to</dt><dd>{{originalTopic}}</dd>
        <dt>Replayed</dt><dd id="replayed">{{#replayedTo}}to {{replayedTo}}{{/replayedTo}}{{^replayedTo}}not yet{{/replayedTo}}</dd>
        </dl>
        {{^replayedTo}}
        <form method="post" action="/dlq/{{topic}}/plan" class="replay">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <input type="hidden" name="position" value="{{position}}">
        <button type="submit" id="dry-run-one">Dry run: replay this message…</button>
        </form>
        {{/replayedTo}}
        <h2>Headers</h2>
        <table class="headers">
        <tbody>{{#headers}}<tr><th>{{name}}</th><td><code>{{value}}</code></td></tr>{{/headers}}</tbody>
        </table>
        <h2>Payload <span class="hint">({{payloadKind}}, {{payloadBytes}} bytes)</span></h2>
        <pre class="payload" id="payload">{{payload}}</pre>
        """

    static let replayPlan = """
        <p><a href="/dlq/{{topic}}">← {{topic}}</a></p>
        <p class="confirm">Dry run: nothing has changed yet. {{matched}} messages match; <b id="plan-count">{{count}}</b> would be
        republished to their original topics with their attempts reset{{#alreadyReplayed}} ({{alreadyReplayed}} were replayed before and are skipped){{/alreadyReplayed}}.</p>
        <table class="letters" id="plan">
        <thead><tr><th>Position</th><th>Key</th><th>Error class</th><th>Republished to</th></tr></thead>
        <tbody>
        {{#letters}}<tr><td>{{position}}</td><td>{{key}}</td><td class="class">{{errorClass}}</td><td>{{originalTopic}}</td></tr>
        {{/letters}}
        </tbody>
        </table>
        {{#canReplay}}
        <form method="post" action="/dlq/{{topic}}/replay" class="replay">
        <input type="hidden" name="csrf" value="{{csrf}}">
        {{#letters}}<input type="hidden" name="position" value="{{position}}">{{/letters}}
        <button type="submit" id="confirm-replay" class="danger">Replay these {{count}} messages</button>
        <a href="/dlq/{{topic}}">Cancel</a>
        </form>
        {{/canReplay}}
        """

    static let replayDone = """
        <p><a href="/dlq/{{topic}}">← {{topic}}</a></p>
        <p class="done" id="replay-summary">Replayed {{replayedCount}} of {{matched}}; skipped {{skipped}} (replayed before).</p>
        <table class="letters" id="replayed">
        <thead><tr><th>Dead letter</th><th>Republished as</th></tr></thead>
        <tbody>{{#replayed}}<tr><td>{{from}}</td><td>{{to}}</td></tr>{{/replayed}}</tbody>
        </table>
        """

    static let workers = """
        <p class="hint">Each worker's <code>/health</code> and, from its <code>/metrics</code>, messages handled per second
        (configured in <code>operations.workers</code>). Updated every second.</p>
        <div id="workers" data-live="/workers/stream">{{{live}}}</div>
        """

    static let workersLive = """
        <table class="workers">
        <thead><tr><th>Worker</th><th>Endpoint</th><th>Status</th><th>Group</th><th class="num">Partitions</th><th class="num">Last poll</th><th class="num">msg/s</th><th>Problem</th></tr></thead>
        <tbody>
        {{#workers}}<tr id="worker-{{name}}"><td>{{name}}</td><td>{{url}}</td><td><span class="state {{statusClass}}">{{status}}</span></td><td>{{group}}</td><td class="num">{{partitions}}</td><td class="num">{{lastPoll}}</td><td class="num">{{rate}}</td><td>{{problem}}</td></tr>
        {{/workers}}
        {{^workers}}<tr><td colspan="8">No workers configured: list them in operations.workers (name=http://host:port,…).</td></tr>{{/workers}}
        </tbody>
        </table>
        """

    static let analytics = """
        <form method="get" action="/analytics" class="filter">
        <label>Clinic <select name="tenant">{{#tenants}}<option value="{{id}}" {{#selected}}selected{{/selected}}>{{name}}</option>{{/tenants}}</select></label>
        <label>From <input type="date" name="from" value="{{from}}"></label>
        <label>To <input type="date" name="to" value="{{to}}"></label>
        <button type="submit">Show</button>
        </form>
        {{#problem}}<p class="problem">{{problem}}</p>{{/problem}}
        <div class="charts">
        <figure><figcaption>Bookings per day and doctor</figcaption><canvas id="chart-bookings" data-chart="{{bookingsChart}}"></canvas></figure>
        <figure><figcaption>Utilisation (booked ÷ available minutes)</figcaption><canvas id="chart-utilisation" data-chart="{{utilisationChart}}"></canvas></figure>
        <figure><figcaption>Declined requests by reason</figcaption><canvas id="chart-declines" data-chart="{{declinesChart}}"></canvas></figure>
        </div>
        <table class="analytics" id="analytics-table">
        <thead><tr><th>Doctor</th><th>Day</th><th class="num">Requested</th><th class="num">Booked</th><th class="num">Declined</th><th class="num">Cancelled</th><th class="num">Completed</th><th class="num">Utilisation</th></tr></thead>
        <tbody>
        {{#rows}}<tr><td>{{doctor}}</td><td>{{day}}</td><td class="num">{{requested}}</td><td class="num">{{booked}}</td><td class="num">{{declined}}</td><td class="num">{{cancelled}}</td><td class="num">{{completed}}</td><td class="num">{{utilisation}}</td></tr>
        {{/rows}}
        {{^rows}}<tr><td colspan="8">No figures for these days.</td></tr>{{/rows}}
        </tbody>
        </table>
        """

    static let message = """
        <p class="{{kind}}">{{text}}</p>
        {{#back}}<p><a href="{{back}}">Back</a></p>{{/back}}
        """
}
