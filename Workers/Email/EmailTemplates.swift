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
    }

    private let templates: [NotificationKind: Template]

    public init() throws {
        var templates: [NotificationKind: Template] = [:]
        for kind in NotificationKind.allCases {
            let source = Self.sources(kind)
            templates[kind] = Template(
                subject: try MustacheTemplate(string: source.subject), text: try MustacheTemplate(string: source.text),
                html: try MustacheTemplate(string: Self.htmlFrame(source.html)))
        }
        self.templates = templates
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
            "declineReason": (request.declineReason ?? .notAllowed).explanation,
        ]
        guard let template = templates[request.kind] else { return Rendered(subject: "CareFleet", text: "", html: "") }
        return Rendered(
            subject: template.subject.render(context).trimmingCharacters(in: .whitespacesAndNewlines),
            text: template.text.render(context), html: template.html.render(context))
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
        case .reminder:
            return (
                "Reminder: appointment on {{{day}}}",
                "Hello {{{name}}},\n\nA reminder of your appointment with {{{counterpart}}} on {{{when}}}.\n\nCareFleet appointments\n",
                "<p>A reminder of your appointment with {{counterpart}} on <b>{{when}}</b>.</p>"
            )
        }
    }
}
