import Foundation

/// The OpenAPI 3.1 description of every route, served at `/openapi.json`. A test checks that it
/// lists exactly the routes the router serves.
enum OpenAPIDocument {
    static let json: [UInt8] = {
        let data = (try? JSONSerialization.data(withJSONObject: document, options: [.sortedKeys])) ?? Data("{}".utf8)
        return Array(data)
    }()

    static func ref(_ name: String) -> [String: Any] { ["$ref": "#/components/schemas/\(name)"] }

    static func body(_ schema: String) -> [String: Any] {
        ["required": true, "content": ["application/json": ["schema": ref(schema)]]]
    }

    static func answer(_ status: String, _ description: String, _ schema: String? = nil) -> [String: Any] {
        var response: [String: Any] = ["description": description]
        if let schema { response["content"] = ["application/json": ["schema": ref(schema)]] }
        return [status: response]
    }

    static var errors: [String: Any] { [
        "400": ["description": "malformed request (the field is named)", "content": ["application/json": ["schema": ref("Error")]]],
        "401": ["description": "missing, invalid or expired token", "content": ["application/json": ["schema": ref("Error")]]],
        "403": ["description": "not allowed for this role", "content": ["application/json": ["schema": ref("Error")]]],
        "404": ["description": "unknown id (or not visible)", "content": ["application/json": ["schema": ref("Error")]]],
        "422": ["description": "a value breaks a rule (the field is named)", "content": ["application/json": ["schema": ref("Error")]]],
    ]
    }

    static func operation(
        _ summary: String, tags: [String], body schema: String? = nil, _ responses: [String: Any], public isPublic: Bool = false,
        parameters: [[String: Any]] = []
    ) -> [String: Any] {
        var operation: [String: Any] = [
            "summary": summary, "tags": tags, "responses": responses.merging(errors) { first, _ in first },
        ]
        if let schema { operation["requestBody"] = body(schema) }
        if isPublic { operation["security"] = [] as [Any] }
        var all = parameters
        if schema != nil {
            all.append(["name": "Idempotency-Key", "in": "header", "required": false, "schema": ["type": "string", "maxLength": 200]])
        }
        if !all.isEmpty { operation["parameters"] = all }
        return operation
    }

    static func pathParameter(_ name: String, format: String = "uuid") -> [String: Any] {
        ["name": name, "in": "path", "required": true, "schema": ["type": "string", "format": format]]
    }

    static func query(_ name: String, format: String? = nil, required: Bool = false) -> [String: Any] {
        var schema: [String: Any] = ["type": "string"]
        if let format { schema["format"] = format }
        return ["name": name, "in": "query", "required": required, "schema": schema]
    }

    static var tenantHeader: [String: Any] { [
        "name": "X-Tenant-Id", "in": "header", "required": false, "schema": ["type": "string", "format": "uuid"],
        "description": "The clinic; the default tenant when absent",
    ]
    }

    static var paths: [String: Any] {
        let id = pathParameter("id")
        let accepted = answer("202", "accepted: the command is on its way", "Accepted")
        func action(_ summary: String, body: String? = nil) -> [String: Any] {
            ["post": operation(summary, tags: ["appointments"], body: body, accepted, parameters: [id])]
        }
        return [
            "/v1/auth/register": ["post": operation("Register a patient", tags: ["auth"], body: "Registration", answer("201", "registered and signed in", "Session"), public: true, parameters: [tenantHeader])],
            "/v1/auth/login": ["post": operation("Sign in", tags: ["auth"], body: "Credentials", answer("200", "signed in", "Session").merging(["429": ["description": "too many failed attempts"]]) { a, _ in a }, public: true, parameters: [tenantHeader])],
            "/v1/auth/refresh": ["post": operation("Rotate a refresh token", tags: ["auth"], body: "RefreshRequest", answer("200", "new tokens", "Session"), public: true)],
            "/v1/auth/logout": ["post": operation("Revoke a refresh token's session", tags: ["auth"], body: "RefreshRequest", answer("204", "signed out"), public: true)],
            "/v1/auth/me": ["get": operation("The signed-in user", tags: ["auth"], answer("200", "the user", "User"))],
            "/v1/auth/change-password": ["post": operation("Change the password (ends other sessions)", tags: ["auth"], body: "PasswordChange", answer("204", "changed"))],
            "/v1/doctors": [
                "get": operation("List doctors", tags: ["directory"], answer("200", "doctors", "DoctorList")),
                "post": operation("Create a doctor (admin)", tags: ["directory"], body: "NewDoctor", answer("201", "created", "Doctor")),
            ],
            "/v1/doctors/{id}": [
                "get": operation("Get a doctor", tags: ["directory"], answer("200", "the doctor", "Doctor"), parameters: [id]),
                "patch": operation("Change a doctor's profile and booking settings (the doctor or an admin)", tags: ["directory"], body: "DoctorChange", answer("200", "changed", "Doctor"), parameters: [id]),
            ],
            "/v1/doctors/{id}/hours": [
                "get": operation("Weekly working hours", tags: ["directory"], answer("200", "hours", "Hours"), parameters: [id]),
                "put": operation("Replace the weekly working hours", tags: ["directory"], body: "Hours", answer("200", "hours", "Hours"), parameters: [id]),
            ],
            "/v1/doctors/{id}/overrides": [
                "get": operation("Date overrides in a range", tags: ["directory"], answer("200", "overrides", "OverrideList"), parameters: [id, query("from", format: "date", required: true), query("to", format: "date", required: true)]),
            ],
            "/v1/doctors/{id}/overrides/{date}": [
                "put": operation("Set one date's hours (empty: a day off)", tags: ["directory"], body: "OverrideHours", answer("200", "override", "Override"), parameters: [id, pathParameter("date", format: "date")]),
                "delete": operation("Remove a date override", tags: ["directory"], answer("204", "removed"), parameters: [id, pathParameter("date", format: "date")]),
            ],
            "/v1/doctors/{id}/slots": [
                "get": operation("Free slots for local days from…to (≤ 62 days)", tags: ["directory"], answer("200", "free slots", "Slots"), parameters: [id, query("from", format: "date", required: true), query("to", format: "date", required: true)]),
            ],
            "/v1/admins": ["post": operation("Create an admin (admin)", tags: ["directory"], body: "NewAdmin", answer("201", "created", "User"))],
            "/v1/patients": ["get": operation("List patients (admin: all; doctor: own)", tags: ["directory"], answer("200", "patients", "PatientList"))],
            "/v1/patients/{id}": [
                "get": operation("Get a patient", tags: ["directory"], answer("200", "the patient", "Patient"), parameters: [id]),
                "patch": operation("Change a patient's profile (the patient or an admin)", tags: ["directory"], body: "PatientChange", answer("200", "changed", "Patient"), parameters: [id]),
            ],
            "/v1/appointments": [
                "get": operation("List appointments (own, or the tenant's for admins)", tags: ["appointments"], answer("200", "a page", "AppointmentPage"), parameters: [query("status"), query("from", format: "date-time"), query("to", format: "date-time"), query("limit"), query("offset")]),
                "post": operation("Request an appointment", tags: ["appointments"], body: "AppointmentRequest", accepted),
            ],
            "/v1/appointments/{id}": ["get": operation("Get an appointment", tags: ["appointments"], answer("200", "the appointment", "Appointment"), parameters: [id])],
            "/v1/appointments/{id}/cancel": action("Cancel (patient, doctor or admin)", body: "Reason"),
            "/v1/appointments/{id}/confirm": action("Confirm a pending appointment (doctor)"),
            "/v1/appointments/{id}/reject": action("Reject a pending appointment (doctor)", body: "Reason"),
            "/v1/appointments/{id}/reschedule": action("Move to another time", body: "Reschedule"),
            "/v1/appointments/{id}/complete": action("Complete with notes (doctor)", body: "Notes"),
            "/v1/appointments/{id}/no-show": action("Mark as no-show (doctor)"),
            "/v1/commands/{id}": ["get": operation("A command's outcome: pending, done or declined", tags: ["appointments"], answer("200", "the status", "CommandStatus"), parameters: [id])],
            "/v1/notifications": ["get": operation("My notifications, newest first", tags: ["notifications"], answer("200", "a page", "NotificationPage"), parameters: [query("unread"), query("limit"), query("offset")])],
            "/v1/notifications/unread-count": ["get": operation("How many of my notifications are unread", tags: ["notifications"], answer("200", "the count", "UnreadCount"))],
            "/v1/notifications/read-all": ["post": operation("Mark all my notifications read", tags: ["notifications"], answer("200", "how many were marked"))],
            "/v1/notifications/{id}/read": ["post": operation("Mark one notification read", tags: ["notifications"], answer("204", "marked"), parameters: [id])],
            "/v1/notifications/{id}": ["delete": operation("Delete one notification", tags: ["notifications"], answer("204", "deleted"), parameters: [id])],
            "/v1/notifications/preferences": [
                "get": operation("My email preference", tags: ["notifications"], answer("200", "the preference", "NotificationPreferences")),
                "put": operation("Turn email notifications on or off", tags: ["notifications"], body: "NotificationPreferences", answer("200", "the preference", "NotificationPreferences")),
            ],
            "/v1/analytics/doctors/{id}": ["get": operation("A doctor's days: demand, outcomes, utilisation, lead time (the doctor or an admin)", tags: ["analytics"], answer("200", "the report (CSV with format=csv)", "DoctorReport"), parameters: [id, query("from", format: "date", required: true), query("to", format: "date", required: true), query("format")])],
            "/v1/analytics/summary": ["get": operation("Every doctor's totals and the clinic's (admin)", tags: ["analytics"], answer("200", "the summary (CSV with format=csv)", "SummaryReport"), parameters: [query("from", format: "date", required: true), query("to", format: "date", required: true), query("format")])],
            "/openapi.json": ["get": operation("This document", tags: ["operations"], answer("200", "OpenAPI 3.1"), public: true)],
            "/health/live": ["get": operation("Liveness", tags: ["operations"], answer("200", "alive"), public: true)],
            "/health/ready": ["get": operation("Readiness: database and broker", tags: ["operations"], answer("200", "ready").merging(["503": ["description": "not ready"]]) { a, _ in a }, public: true)],
            "/metrics": ["get": operation("Prometheus metrics", tags: ["operations"], answer("200", "text exposition format"), public: true)],
        ]
    }

    static func object(_ properties: [String: Any], required: [String] = []) -> [String: Any] {
        var schema: [String: Any] = ["type": "object", "properties": properties]
        if !required.isEmpty { schema["required"] = required }
        return schema
    }

    static var uuid: [String: Any] { ["type": "string", "format": "uuid"] }
    static var time: [String: Any] { ["type": "string", "format": "date-time"] }
    static var string: [String: Any] { ["type": "string"] }
    static var integer: [String: Any] { ["type": "integer"] }
    static var boolean: [String: Any] { ["type": "boolean"] }
    static var clock: [String: Any] { ["type": "string", "pattern": "^([01][0-9]|2[0-4]):[0-5][0-9]$"] }
    static func list(_ item: [String: Any]) -> [String: Any] { ["type": "array", "items": item] }

    static var schemas: [String: Any] {
        let settings: [String: Any] = [
            "timeZone": ["type": "string", "description": "IANA time zone, e.g. Europe/Berlin"], "slotMinutes": integer,
            "bufferBeforeMinutes": integer, "bufferAfterMinutes": integer, "minimumNoticeMinutes": integer,
            "horizonDays": integer, "requiresConfirmation": boolean,
        ]
        let weekly = object(["weekday": ["type": "integer", "minimum": 1, "maximum": 7], "start": clock, "end": clock], required: ["weekday", "start", "end"])
        let dayHours = object(["start": clock, "end": clock], required: ["start", "end"])
        let appointment = object([
            "id": uuid, "doctorId": uuid, "patientId": uuid, "startsAt": time, "endsAt": time,
            "status": ["type": "string", "enum": ["pending", "confirmed", "rejected", "cancelled", "completed", "no_show"]],
            "sequence": integer, "reason": string, "notes": string, "statusReason": string, "requestedAt": time, "updatedAt": time,
        ])
        let user = object(["id": uuid, "tenantId": uuid, "email": string, "role": ["type": "string", "enum": ["patient", "doctor", "admin"]], "displayName": string])
        let doctor = object(["id": uuid, "tenantId": uuid, "displayName": string, "specialty": string, "settings": object(settings)])
        let patient = object(["id": uuid, "tenantId": uuid, "displayName": string, "email": string, "phone": string, "dateOfBirth": ["type": "string", "format": "date"]])
        let override = object(["date": ["type": "string", "format": "date"], "hours": list(dayHours)])
        return [
            "Error": object(["error": object(["code": string, "message": string, "details": ["type": "object", "additionalProperties": string]], required: ["code", "message"])], required: ["error"]),
            "Registration": object(["email": string, "password": ["type": "string", "minLength": 10], "displayName": string], required: ["email", "password", "displayName"]),
            "Credentials": object(["email": string, "password": string], required: ["email", "password"]),
            "RefreshRequest": object(["refreshToken": string], required: ["refreshToken"]),
            "PasswordChange": object(["currentPassword": string, "newPassword": ["type": "string", "minLength": 10]], required: ["currentPassword", "newPassword"]),
            "Session": object(["accessToken": string, "refreshToken": string, "tokenType": string, "expiresIn": integer, "user": ref("User")]),
            "User": user,
            "NewDoctor": object(settings.merging(["email": string, "password": string, "displayName": string, "specialty": string, "hours": list(weekly)]) { a, _ in a }, required: ["email", "password", "displayName", "timeZone"]),
            "DoctorChange": object(settings.merging(["displayName": string, "specialty": string]) { a, _ in a }),
            "Doctor": doctor,
            "DoctorList": object(["items": list(ref("Doctor"))]),
            "NewAdmin": object(["email": string, "password": string, "displayName": string], required: ["email", "password", "displayName"]),
            "Hours": object(["hours": list(weekly)], required: ["hours"]),
            "OverrideHours": object(["hours": list(dayHours)], required: ["hours"]),
            "Override": override,
            "OverrideList": object(["items": list(ref("Override"))]),
            "Slots": object(["doctorId": uuid, "timeZone": string, "from": string, "to": string, "slots": list(object(["startsAt": time, "endsAt": time]))]),
            "Patient": patient,
            "PatientList": object(["items": list(ref("Patient"))]),
            "PatientChange": object(["displayName": string, "phone": string, "dateOfBirth": ["type": "string", "format": "date"]]),
            "AppointmentRequest": object(["doctorId": uuid, "startsAt": time, "endsAt": time, "reason": string, "patientId": uuid], required: ["doctorId", "startsAt"]),
            "Reason": object(["reason": string], required: ["reason"]),
            "Reschedule": object(["startsAt": time, "endsAt": time], required: ["startsAt"]),
            "Notes": object(["notes": string]),
            "Accepted": object(["commandId": uuid, "appointmentId": uuid, "status": string, "commandUrl": string]),
            "Appointment": appointment,
            "AppointmentPage": object(["items": list(ref("Appointment")), "limit": integer, "offset": integer, "total": integer]),
            "Notification": object(["id": uuid, "kind": string, "title": string, "body": string, "appointmentId": uuid, "createdAt": time, "readAt": time]),
            "NotificationPage": object(["items": list(ref("Notification")), "limit": integer, "offset": integer, "total": integer, "unread": integer]),
            "UnreadCount": object(["unread": integer]),
            "NotificationPreferences": object(["email": boolean], required: ["email"]),
            "DayFigures": object([
                "requested": integer, "booked": integer, "declined": ["type": "object", "additionalProperties": integer],
                "confirmed": integer, "rejected": integer, "cancelled": object(["patient": integer, "doctor": integer, "clinic": integer]),
                "completed": integer, "noShows": integer, "bookedMinutes": integer, "availableMinutes": integer,
                "utilisation": ["type": "number"], "leadTime": object(["count": integer, "mean": ["type": "number"], "p50": ["type": "number"], "p90": ["type": "number"]]),
            ]),
            "DoctorReport": object(["doctorId": uuid, "doctorName": string, "from": string, "to": string, "days": list(object(["doctorId": uuid, "doctorName": string, "day": string, "figures": ref("DayFigures")])), "totals": ref("DayFigures")]),
            "SummaryReport": object(["from": string, "to": string, "doctors": list(object(["doctorId": uuid, "doctorName": string, "totals": ref("DayFigures")])), "totals": ref("DayFigures")]),
            "CommandStatus": object(["commandId": uuid, "type": string, "appointmentId": uuid, "status": ["type": "string", "enum": ["pending", "done", "declined"]], "reason": string, "event": ["type": "object"]]),
        ]
    }

    static var document: [String: Any] {
        [
            "openapi": "3.1.0",
            "info": ["title": "CareFleet API", "version": "1.0.0", "description": "Appointments, directory and auth. Writes are commands answered 202; follow them at /v1/commands/{id}."],
            "servers": [["url": "/"]],
            "security": [["bearer": [] as [Any]]],
            "paths": paths,
            "components": ["schemas": schemas, "securitySchemes": ["bearer": ["type": "http", "scheme": "bearer", "bearerFormat": "JWT"]]],
        ]
    }
}
