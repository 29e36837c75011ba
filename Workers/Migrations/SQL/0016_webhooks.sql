-- Webhooks (issue 17): endpoints a clinic's admin registers, and the log of every delivery to
-- them. The webhook worker fans each appointment event out to the tenant's active endpoints that
-- subscribe to its type and delivers each, signed with the endpoint's secret.
CREATE SCHEMA webhooks;

CREATE TABLE webhooks.endpoints (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES identity.tenants (id),
    url text NOT NULL CHECK (length(url) BETWEEN 10 AND 2048),
    event_types text[] NOT NULL CHECK (cardinality(event_types) BETWEEN 1 AND 50),
    -- `whsec_` and the base64 of the key. The worker needs it to sign, so it is stored as it is;
    -- the API shows it once, in the answer that created the endpoint.
    secret text NOT NULL,
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    -- The first failure of the current run of failures (cleared by a delivery); an endpoint
    -- failing for longer than the worker's `webhook.disable.after` is disabled.
    failing_since timestamptz,
    disabled_at timestamptz,
    disabled_reason text,
    created_by uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX endpoints_by_tenant ON webhooks.endpoints (tenant_id, created_at);

-- One row per endpoint and event: written `pending` by the fan-out, then updated by each attempt.
CREATE TABLE webhooks.deliveries (
    endpoint_id uuid NOT NULL REFERENCES webhooks.endpoints (id),
    webhook_id text NOT NULL,
    event_type text NOT NULL,
    appointment_id uuid,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'retrying', 'delivered', 'failed')),
    attempts integer NOT NULL DEFAULT 0,
    last_status_code integer,
    last_error text,
    last_attempt_at timestamptz,
    delivered_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (endpoint_id, webhook_id)
);
CREATE INDEX deliveries_by_endpoint ON webhooks.deliveries (endpoint_id, created_at DESC, webhook_id);
