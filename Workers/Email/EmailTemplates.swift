import Contracts
import Foundation
import Mustache

/// The subject, text and HTML of each kind of email. Subjects never carry medical detail (no
/// reason, no notes): they name the kind and the day only.
public struct EmailTemplates: Sendable {
    struct Template: Sendable {
        let subject: MustacheTemplate
        let text: MustacheTemplate
        let html: MustacheTemplate

        init(_ source: (subject: String, text: String, html: String)) throws {
            subject = try MustacheTemplate(string: source.subject)
            text = try MustacheTemplate(string: source.text)
            html = try MustacheTemplate(string: EmailTemplates.htmlFrame(source.html))
        }

        func render(_ context: [String: Any]) -> Rendered {
            // Trimmed by hand: Foundation's trimmingCharacters goes through NSString.
            let rendered = subject.render(context)
            let start = rendered.drop(while: \.isWhitespace)
            let subject = start[..<(start.lastIndex { !$0.isWhitespace }.map { start.index(after: $0) } ?? start.startIndex)]
            return Rendered(subject: String(subject), text: text.render(context), html: html.render(context))
        }
    }

    private let templates: [NotificationKind: Template]
    private let accountTemplates: [AccountEmailKind: Template]

    public init() throws {
        var templates: [NotificationKind: Template] = [:]
        for kind in NotificationKind.allCases {
            templates[kind] = try Template(Self.sources(kind))
        }
        var accountTemplates: [AccountEmailKind: Template] = [:]
        for kind in AccountEmailKind.allCases {
            accountTemplates[kind] = try Template(Self.accountSources(kind))
        }
        self.templates = templates
        self.accountTemplates = accountTemplates
    }

    public struct Rendered: Sendable, Equatable {
        public var subject: String
        public var text: String
        public var html: String
    }

    public func render(_ request: EmailRequested) -> Rendered {
        let summary = request.appointment
        let counterpart = request.recipient.role == .doctor ? summary.patientName : summary.doctorName
        let context: [String: Any] = [
            "name": request.recipient.name, "counterpart": counterpart, "doctor": summary.doctorName,
            "patient": summary.patientName, "when": summary.whenText, "day": String(summary.localText(summary.startsAt).prefix { $0 != "," }),
            "isDoctor": request.recipient.role == .doctor, "pending": summary.status == .pending,
            "by": (request.changedBy ?? .system).byline,
            "previous": request.previousStartsAt.map { summary.localText($0) } ?? "",
            "declineReason": (request.declineReason ?? .notAllowed).explanation, "link": request.link ?? "",
            "expires": request.linkExpiresAt.map { Self.utcText($0) } ?? "",
        ]
        guard let template = templates[request.kind] else { return Rendered(subject: "CareFleet", text: "", html: "") }
        return template.render(context)
    }

    /// An email about the account itself: verify the address, set a password, a notice.
    public func render(_ request: AccountEmailRequested) -> Rendered {
        let context: [String: Any] = [
            "name": request.recipient.name, "clinic": request.clinicName, "link": request.link ?? "",
            "expires": request.linkExpiresAt.map { Self.utcText($0) } ?? "", "detail": request.detail ?? "",
        ]
        guard let template = accountTemplates[request.kind] else { return Rendered(subject: "CareFleet", text: "", html: "") }
        return template.render(context)
    }

    static func utcText(_ date: Date) -> String {
        date.formatted(
            Date.VerbatimFormatStyle(
                format: "\(year: .defaultDigits)-\(month: .twoDigits)-\(day: .twoDigits) \(hour: .twoDigits(clock: .twentyFourHour, hourCycle: .zeroBased)):\(minute: .twoDigits) UTC",
                timeZone: .gmt, calendar: Calendar(identifier: .gregorian)))
    }

    static func htmlFrame(_ body: String) -> String {
        """
        <!doctype html><html><body style="font-family: sans-serif; line-height: 1.5">
        <p>Hello {{name}},</p>
        \(body)
        <p style="color: #666">CareFleet appointments</p></body></html>
        """
    }

    // Text templates use {{{…}}} (no HTML escaping); HTML templates {{…}}.
    static func sources(_ kind: NotificationKind) -> (subject: String, text: String, html: String) {
        switch kind {
        case .booked:
            return (
                "{{#isDoctor}}New appointment{{/isDoctor}}{{^isDoctor}}Your appointment is booked{{/isDoctor}}: {{{day}}}",
                """
                Hello {{{name}}},

                {{#isDoctor}}{{{patient}}} booked an appointment with you on {{{when}}}.{{/isDoctor}}{{^isDoctor}}Your appointment with {{{doctor}}} on {{{when}}} is booked.{{#pending}} It awaits the doctor's confirmation.{{/pending}}{{/isDoctor}}
                The attached invitation adds it to your calendar.

                CareFleet appointments

                """,
                "{{#isDoctor}}<p>{{patient}} booked an appointment with you on <b>{{when}}</b>.</p>{{/isDoctor}}{{^isDoctor}}<p>Your appointment with {{doctor}} on <b>{{when}}</b> is booked.{{#pending}} It awaits the doctor's confirmation.{{/pending}}</p>{{/isDoctor}}"
            )
        case .confirmed:
            return (
                "Your appointment is confirmed: {{{day}}}",
                "Hello {{{name}}},\n\n{{{doctor}}} confirmed your appointment on {{{when}}}.\n\nCareFleet appointments\n",
                "<p>{{doctor}} confirmed your appointment on <b>{{when}}</b>.</p>"
            )
        case .rejected:
            return (
                "Your appointment request was not accepted",
                "Hello {{{name}}},\n\n{{{doctor}}} could not accept your appointment on {{{when}}}. Please choose another time.\n\nCareFleet appointments\n",
                "<p>{{doctor}} could not accept your appointment on <b>{{when}}</b>. Please choose another time.</p>"
            )
        case .cancelled:
            return (
                "Appointment cancelled: {{{day}}}",
                "Hello {{{name}}},\n\nThe appointment with {{{counterpart}}} on {{{when}}} was cancelled by {{{by}}}.\n\nCareFleet appointments\n",
                "<p>The appointment with {{counterpart}} on <b>{{when}}</b> was cancelled by {{by}}.</p>"
            )
        case .rescheduled:
            return (
                "Appointment moved to {{{day}}}",
                "Hello {{{name}}},\n\nThe appointment with {{{counterpart}}} was moved from {{{previous}}} to {{{when}}} by {{{by}}}.\n\nCareFleet appointments\n",
                "<p>The appointment with {{counterpart}} was moved from {{previous}} to <b>{{when}}</b> by {{by}}.</p>"
            )
        case .completed:
            return (
                "Thank you for your visit",
                "Hello {{{name}}},\n\nYour appointment with {{{doctor}}} on {{{when}}} is completed.\n\nCareFleet appointments\n",
                "<p>Your appointment with {{doctor}} on <b>{{when}}</b> is completed.</p>"
            )
        case .declined:
            return (
                "Your booking could not be made",
                "Hello {{{name}}},\n\nThe appointment with {{{doctor}}} on {{{when}}} could not be booked: {{{declineReason}}}.\n\nCareFleet appointments\n",
                "<p>The appointment with {{doctor}} on <b>{{when}}</b> could not be booked: {{declineReason}}.</p>"
            )
        case .waitlistOffer:
            return (
                "A slot is free: {{{doctor}}}, {{{day}}}",
                "Hello {{{name}}},\n\nA slot you are waiting for is free: {{{doctor}}} on {{{when}}}.\nBook it with one click:\n{{{link}}}\n\nThe link works once, until {{{expires}}}. Others may be offered it too: the first to book gets it.\n\nCareFleet appointments\n",
                "<p>A slot you are waiting for is free: {{doctor}} on <b>{{when}}</b>.</p><p><a href=\"{{link}}\">Book it with one click</a> (until {{expires}}; the first to book gets it).</p>"
            )
        case .waitlistGone:
            return (
                "The slot offered is gone: {{{day}}}",
                "Hello {{{name}}},\n\nThe slot with {{{doctor}}} on {{{when}}} was booked by someone else or the offer lapsed. You stay on the waitlist.\n\nCareFleet appointments\n",
                "<p>The slot with {{doctor}} on <b>{{when}}</b> was booked by someone else or the offer lapsed. You stay on the waitlist.</p>"
            )
        case .reminder:
            return (
                "Reminder: appointment on {{{day}}}",
                "Hello {{{name}}},\n\nA reminder of your appointment with {{{counterpart}}} on {{{when}}}.\n\nCareFleet appointments\n",
                "<p>A reminder of your appointment with {{counterpart}} on <b>{{when}}</b>.</p>"
            )
        }
    }

    static func accountSources(_ kind: AccountEmailKind) -> (subject: String, text: String, html: String) {
        switch kind {
        case .verifyEmail:
            return (
                "Confirm your email address for {{{clinic}}}",
                "Hello {{{name}}},\n\nFollow this link to confirm your address and sign in to {{{clinic}}}:\n{{{link}}}\n\nThe link works once, until {{{expires}}}. If you did not register, ignore this email.\n\nCareFleet appointments\n",
                "<p>Follow <a href=\"{{link}}\">this link</a> to confirm your address and sign in to {{clinic}}.</p><p>The link works once, until {{expires}}. If you did not register, ignore this email.</p>"
            )
        case .alreadyRegistered:
            return (
                "Someone tried to register with your address at {{{clinic}}}",
                "Hello {{{name}}},\n\nSomeone tried to register a new account at {{{clinic}}} with this address, which already has one. If it was you, sign in, or reset your password. If not, nothing changed.\n\nCareFleet appointments\n",
                "<p>Someone tried to register a new account at {{clinic}} with this address, which already has one. If it was you, sign in, or reset your password. If not, nothing changed.</p>"
            )
        case .setPassword:
            return (
                "Your account at {{{clinic}}}: set a password",
                "Hello {{{name}}},\n\nAn account at {{{clinic}}} was made for you. Follow this link to set your password:\n{{{link}}}\n\nThe link works once, until {{{expires}}}.\n\nCareFleet appointments\n",
                "<p>An account at {{clinic}} was made for you. Follow <a href=\"{{link}}\">this link</a> to set your password.</p><p>The link works once, until {{expires}}.</p>"
            )
        case .webhookDisabled:
            return (
                "A webhook endpoint of {{{clinic}}} was disabled",
                "Hello {{{name}}},\n\n{{{detail}}}\n\nNothing more is sent to it until an admin enables it again (POST /v1/webhooks/{id}/enable); the deliveries it missed are in the webhook worker's dead-letter topic and can be replayed.\n\nCareFleet appointments\n",
                "<p>{{detail}}</p><p>Nothing more is sent to it until an admin enables it again; the deliveries it missed are in the webhook worker's dead-letter topic and can be replayed.</p>"
            )
        }
    }
}
