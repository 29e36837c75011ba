import Contracts
import Email
import FleetConfiguration
import Mail
import Runtime

// email-worker: consumes notifications.email and sends each email once through SMTP.
await WorkerProgram.run(group: ConsumerGroups.email) { environment in
    guard let pool = environment.database else { throw HandlerError.permanent("database.url is required") }
    let config = environment.config
    let smtp = SMTPClient(
        settings: SMTPSettings(
            url: try config.require("smtp.url"), requireTLS: try config.bool("smtp.require.tls", default: false),
            username: config.string("smtp.username"), password: config.string("smtp.password"),
            timeout: try config.duration("smtp.timeout", default: .seconds(30))))
    return OneAtATime(
        EmailHandler(
            pool: pool, smtp: smtp,
            sender: MailAddress(
                config.string("email.from.address", default: "appointments@carefleet.local"),
                name: config.string("email.from.name", default: "CareFleet")),
            templates: try EmailTemplates(), rateLimiter: RateLimiter(perSecond: try config.double("email.rate.per.second", default: 50)),
            logger: environment.logger))
}
