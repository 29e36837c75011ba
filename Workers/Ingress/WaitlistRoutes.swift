import Clinic
import Contracts
import Foundation
import Hummingbird
import Waitlist

/// The waitlist: a patient waits for a doctor within days and times of day; when a slot in the
/// window frees up, the waitlist worker offers it (in-app and by email with a one-click link).
/// Booking an offer, by the link's page or by `accept`, sends an ordinary booking request: the
/// booking worker decides, so two patients racing for one slot make one booking and one
/// `slot_taken`.
struct WaitlistRoutes {
    let services: IngressServices

    struct NewEntry: Decodable, Documented {
        var doctorId: UUID
        var fromDay: String
        var toDay: String
        /// Absent: the doctor's whole day.
        var earliest: String?
        var latest: String?
        static let schemaName = "NewWaitlistEntry"
        static let schema = Schema.object(
            [("doctorId", .uuid), ("fromDay", .date), ("toDay", .date), ("earliest", .clock), ("latest", .clock)],
            required: ["doctorId", "fromDay", "toDay"])
    }

    struct EntryList: Encodable, Documented {
        var items: [WaitlistEntry]
        static let schemaName = "WaitlistEntryList"
        static let schema = Schema.object([("items", .array(.ref(WaitlistEntry.self)))], required: ["items"])
    }

    func add(to routes: Routes) {
        routes.post(
            "waitlist",
            Doc(
                "Join a doctor's waitlist for a window of days and times of day, the doctor's local time (patients)", tag: "waitlist",
                body: NewEntry.self, answers: [Doc.created(WaitlistEntry.self)], errors: [403, 404, 409])
        ) { request, context in try await join(request, context) }
        routes.get(
            "waitlist",
            Doc("My waitlist entries, newest first, with the slots offered to them (patients)", tag: "waitlist",
                answers: [Doc.ok(EntryList.self, "the entries")], errors: [403])
        ) { _, context in
            let caller = try context.requireRole(.patient)
            return try JSONBody.response(EntryList(items: try await services.waitlist.entries(tenant: caller.tenantId, patient: caller.id)))
        }
        routes.delete(
            "waitlist/:id",
            Doc("Leave the waitlist (patients)", tag: "waitlist", parameters: [Doc.path("id")], answers: [Doc.noContent], errors: [403, 404])
        ) { _, context in
            let caller = try context.requireRole(.patient)
            guard try await services.waitlist.leave(try Path.id(context), tenant: caller.tenantId, patient: caller.id) else {
                throw APIError.notFound("waitlist entry")
            }
            return JSONBody.noContent()
        }
        routes.post(
            "waitlist/offers/:id/accept",
            Doc(
                "Book a slot offered to me: sends a booking request for it (patients); its outcome at commandUrl", tag: "waitlist",
                parameters: [Doc.path("id")], answers: [Doc.accepted(AppointmentRoutes.Accepted.self)], errors: [403, 409])
        ) { _, context in
            let caller = try context.requireRole(.patient)
            guard let offer = try await services.waitlist.claim(token: nil, offer: try Path.id(context), patient: caller.id, tenant: caller.tenantId)
            else { throw APIError.conflict("offer_unavailable", "the offer was booked, has lapsed, or is not yours") }
            return try await book(offer, caller: caller, context: context)
        }
        routes.get(
            "waitlist/settings",
            Doc("How the clinic offers freed slots (admins)", tag: "waitlist", answers: [Doc.ok(WaitlistSettings.self, "the settings")], errors: [403])
        ) { _, context in
            let caller = try context.requireRole(.admin)
            return try JSONBody.response(try await services.waitlist.settings(tenant: caller.tenantId))
        }
        routes.put(
            "waitlist/settings",
            Doc(
                "Offer freed slots to everyone waiting at once, or one by one with a hold of holdMinutes (admins)", tag: "waitlist",
                body: WaitlistSettings.self, answers: [Doc.ok(WaitlistSettings.self, "the settings")], errors: [403])
        ) { request, context in
            let caller = try context.requireRole(.admin)
            let settings = try await JSONBody.decode(WaitlistSettings.self, from: request, context: context)
            guard (1...1440).contains(settings.holdMinutes) else {
                throw APIError.invalid(field: "holdMinutes", "must be 1 to 1440 minutes")
            }
            try await services.waitlist.setSettings(settings, tenant: caller.tenantId)
            return try JSONBody.response(settings)
        }
    }

    func join(_ request: Request, _ context: IngressContext) async throws -> Response {
        let caller = try context.requireRole(.patient)
        let body = try await JSONBody.decode(NewEntry.self, from: request, context: context)
        let fromDay = try Check.date(body.fromDay, field: "fromDay")
        let toDay = try Check.date(body.toDay, field: "toDay")
        guard let first = CalendarDate.dayNumber(fromDay), let last = CalendarDate.dayNumber(toDay), last >= first else {
            throw APIError.invalid(field: "toDay", "must not be before fromDay")
        }
        guard last - first <= WaitlistRules.longestWindowDays else {
            throw APIError.invalid(field: "toDay", "a window may span at most \(WaitlistRules.longestWindowDays) days")
        }
        let today = Int(Date().timeIntervalSince1970 / 86400)
        guard last >= today - 1 else { throw APIError.invalid(field: "toDay", "must not be in the past") }
        guard first <= today + 730 else { throw APIError.invalid(field: "fromDay", "must be within two years") }
        guard let earliest = LocalTime(body.earliest ?? "00:00"), earliest.minutes < 24 * 60 else {
            throw APIError.invalid(field: "earliest", "must be a time HH:MM before 24:00")
        }
        guard let latest = LocalTime(body.latest ?? "24:00") else { throw APIError.invalid(field: "latest", "must be a time HH:MM up to 24:00") }
        guard latest > earliest else { throw APIError.invalid(field: "latest", "must be after earliest") }
        guard try await services.doctor(body.doctorId, tenant: caller.tenantId) != nil else { throw APIError.notFound("doctor") }
        do {
            let entry = try await services.waitlist.join(
                tenant: caller.tenantId, patient: caller.id, doctor: body.doctorId, fromDay: fromDay, toDay: toDay,
                earliest: earliest.description, latest: latest.description)
            return try JSONBody.response(status: .created, entry)
        } catch WaitlistError.tooManyEntries {
            throw APIError.conflict("too_many_entries", "a patient may wait in at most \(WaitlistRules.maximumActiveEntries) waitlists at once")
        }
    }

    /// Sends the booking request of a claimed offer as its patient; the offer opens again when
    /// the broker does not take it.
    func book(_ offer: ClaimedOffer, caller: AuthenticatedUser, context: IngressContext) async throws -> Response {
        let command = RequestAppointment(
            appointmentId: offer.offerId, doctorId: offer.doctorId, patientId: offer.patientId, startsAt: offer.startsAt,
            endsAt: offer.endsAt, reason: nil)
        do {
            return try await AppointmentRoutes(services: services).issue(
                command, appointmentId: offer.offerId, doctorId: offer.doctorId, caller: caller, context: context)
        } catch {
            try? await services.waitlist.release(offer.offerId)
            throw error
        }
    }
}

/// The page behind an offer's emailed link: what is offered and a button that books it. Like
/// the verification links, only the button uses the link (mail scanners follow links).
struct WaitlistOfferPage {
    let services: IngressServices

    func add(to routes: Routes) {
        routes.get(
            "waitlist/offer",
            Doc(
                "The page behind a waitlist offer's emailed link: the slot and a button that books it", tag: "waitlist", access: .open,
                parameters: [Doc.query("token", .text(100, minLength: 1), required: true)],
                answers: [
                    Doc.text(200, "the page", contentType: "text/html"),
                    Doc.text(422, "the offer was booked, lapsed or the link is unknown", contentType: "text/html"),
                ])
        ) { request, _ in
            let token = try VerificationPage.token(request)
            guard let found = try await services.waitlist.offer(token: token) else { return Self.gone }
            let summary = AppointmentSummary(
                appointmentId: found.offer.offerId, doctorId: found.offer.doctorId, doctorName: found.doctorName,
                patientId: found.offer.patientId, patientName: "", startsAt: found.offer.startsAt, endsAt: found.offer.endsAt,
                timeZone: found.timeZone, status: .pending, sequence: 0)
            return VerificationPage.page(
                title: "A slot is free",
                body: """
                    <p>\(VerificationPage.escape(found.doctorName)), <b>\(VerificationPage.escape(summary.whenText))</b>.</p>
                    <p>Others may have been offered it too: the first to book gets it.</p>
                    <form method="post" action="/waitlist/offer">
                      <input type="hidden" name="token" value="\(VerificationPage.escape(token))">
                      <button type="submit" id="book">Book this slot</button>
                    </form>
                    """)
        }
        routes.post(
            "waitlist/offer",
            Doc(
                "The page's button: sends the booking request (form field `token`)", tag: "waitlist", access: .open,
                answers: [
                    Doc.text(200, "the booking request is on its way", contentType: "text/html"),
                    Doc.text(422, "the offer was booked, lapsed or the link is unknown", contentType: "text/html"),
                ])
        ) { request, context in
            let fields = try await VerificationPage.form(request)
            guard let token = fields["token"], !token.isEmpty, token.count <= 100,
                let offer = try await services.waitlist.claim(token: token, offer: nil, patient: nil, tenant: nil)
            else { return Self.gone }
            // The link stands for its patient, as a verification link does: the request is theirs.
            let patient = AuthenticatedUser(id: offer.patientId, tenantId: offer.tenantId, role: .patient, sessionId: offer.offerId)
            _ = try await WaitlistRoutes(services: services).book(offer, caller: patient, context: context)
            return VerificationPage.page(
                title: "Your booking request is on its way",
                body: "<p>You will get a confirmation in the app and by email in a moment. If someone else was quicker, you will be told, and you stay on the waitlist.</p>")
        }
    }

    static var gone: Response {
        VerificationPage.page(
            title: "This slot can no longer be booked",
            body: "<p>Someone else booked it, the offer lapsed, or the link is unknown. You stay on the waitlist.</p>",
            status: .unprocessableContent)
    }
}

extension WaitlistEntry: Documented {
    static var schema: Schema {
        .object(
            [
                ("id", .uuid), ("doctorId", .uuid), ("fromDay", .date), ("toDay", .date), ("earliest", .clock), ("latest", .clock),
                ("status", .string(values: ["active", "left", "booked", "expired"])), ("createdAt", .dateTime),
                ("offers", .array(.ref(WaitlistOffer.self))),
            ], required: ["id", "doctorId", "fromDay", "toDay", "earliest", "latest", "status", "createdAt", "offers"])
    }
}

extension WaitlistOffer: Documented {
    static var schema: Schema {
        .object(
            [
                ("id", .uuid), ("startsAt", .dateTime), ("endsAt", .dateTime),
                ("status", .string(values: ["open", "claimed", "taken", "gone", "expired"])), ("expiresAt", .dateTime),
            ], required: ["id", "startsAt", "endsAt", "status", "expiresAt"])
    }
}

extension WaitlistSettings: Documented {
    static var schema: Schema {
        .object(
            [("mode", .oneOf(WaitlistSettings.Mode.self)), ("holdMinutes", .integer(minimum: 1, maximum: 1440))],
            required: ["mode", "holdMinutes"])
    }
}
