import Ingress

// ingress: the HTTP API. Configuration from config/<CAREFLEET_ENV>.conf and CAREFLEET_* variables.
await IngressProgram.main()
