-- Tenants, users and their sessions (ingress), the doctors' calendars (ingress), and the
-- appointments the booking worker decides. Every table carries tenant_id.

CREATE TABLE identity.tenants (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
-- The tenant of a single-clinic install (Contracts: Tenants.defaultTenant).
INSERT INTO identity.tenants (id, name) VALUES ('00000000-0000-4000-8000-000000000001', 'Default clinic');

CREATE TABLE identity.users (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES identity.tenants (id),
    email text NOT NULL CHECK (email = lower(email)),
    password_hash text NOT NULL,
    role text NOT NULL CHECK (role IN ('patient', 'doctor', 'admin')),
    display_name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    password_changed_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, email)
);
CREATE INDEX users_by_role ON identity.users (tenant_id, role);

-- Refresh tokens are stored as SHA-256 hashes. Each login starts a family; a refresh rotates
-- the token within the family, and presenting a rotated (revoked) token revokes the family.
CREATE TABLE identity.refresh_tokens (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    user_id uuid NOT NULL REFERENCES identity.users (id) ON DELETE CASCADE,
    family_id uuid NOT NULL,
    token_hash text NOT NULL UNIQUE,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refresh_tokens_by_user ON identity.refresh_tokens (user_id);
CREATE INDEX refresh_tokens_by_family ON identity.refresh_tokens (family_id);

-- Failed logins, per account ('account:<email>') and per address ('address:<ip>'): the rate limit.
CREATE TABLE identity.login_failures (
    tenant_id uuid NOT NULL,
    subject text NOT NULL,
    failed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_recent ON identity.login_failures (tenant_id, subject, failed_at);

CREATE TABLE identity.audit_log (
    id bigserial PRIMARY KEY,
    tenant_id uuid NOT NULL,
    user_id uuid,
    action text NOT NULL,
    details jsonb NOT NULL DEFAULT '{}',
    at timestamptz NOT NULL DEFAULT now()
);

-- Idempotency-Key of POST requests: the first answer, replayed for the same key and body.
-- status_code is NULL while the first request is still running.
CREATE TABLE identity.idempotency_keys (
    tenant_id uuid NOT NULL,
    principal text NOT NULL,
    key text NOT NULL,
    request_hash text NOT NULL,
    status_code integer,
    response_body text,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, principal, key)
);

-- Commands the ingress accepted (202), so that GET /v1/commands/{id} can say "pending".
CREATE TABLE identity.issued_commands (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    issued_by uuid NOT NULL,
    command_type text NOT NULL,
    appointment_id uuid NOT NULL,
    doctor_id uuid NOT NULL,
    issued_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE directory.doctors (
    id uuid PRIMARY KEY REFERENCES identity.users (id),
    tenant_id uuid NOT NULL,
    display_name text NOT NULL,
    specialty text,
    time_zone text NOT NULL,
    slot_minutes integer NOT NULL CHECK (slot_minutes BETWEEN 5 AND 480),
    buffer_before_minutes integer NOT NULL DEFAULT 0 CHECK (buffer_before_minutes BETWEEN 0 AND 240),
    buffer_after_minutes integer NOT NULL DEFAULT 0 CHECK (buffer_after_minutes BETWEEN 0 AND 240),
    minimum_notice_minutes integer NOT NULL DEFAULT 0 CHECK (minimum_notice_minutes >= 0),
    horizon_days integer NOT NULL DEFAULT 90 CHECK (horizon_days BETWEEN 1 AND 730),
    requires_confirmation boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX doctors_by_tenant ON directory.doctors (tenant_id);

-- Working hours per ISO weekday (1 = Monday … 7 = Sunday) in the doctor's time zone.
CREATE TABLE directory.weekly_hours (
    doctor_id uuid NOT NULL REFERENCES directory.doctors (id) ON DELETE CASCADE,
    tenant_id uuid NOT NULL,
    weekday integer NOT NULL CHECK (weekday BETWEEN 1 AND 7),
    starts time NOT NULL,
    ends time NOT NULL,
    CHECK (ends > starts)
);
CREATE INDEX weekly_hours_by_day ON directory.weekly_hours (doctor_id, weekday);

-- A date override replaces that day's weekly hours: rows with hours (extra or different
-- hours), or one row without (a day off).
CREATE TABLE directory.date_overrides (
    doctor_id uuid NOT NULL REFERENCES directory.doctors (id) ON DELETE CASCADE,
    tenant_id uuid NOT NULL,
    day date NOT NULL,
    starts time,
    ends time,
    CHECK ((starts IS NULL AND ends IS NULL) OR (starts IS NOT NULL AND ends > starts))
);
CREATE INDEX date_overrides_by_day ON directory.date_overrides (doctor_id, day);

CREATE TABLE directory.patients (
    id uuid PRIMARY KEY REFERENCES identity.users (id),
    tenant_id uuid NOT NULL,
    display_name text NOT NULL,
    phone text,
    date_of_birth date,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX patients_by_tenant ON directory.patients (tenant_id);

CREATE TABLE booking.appointments (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    doctor_id uuid NOT NULL,
    patient_id uuid NOT NULL,
    starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL,
    status text NOT NULL CHECK (status IN ('pending', 'confirmed', 'rejected', 'cancelled', 'completed', 'no_show')),
    sequence integer NOT NULL DEFAULT 0,
    reason text,
    notes text,
    status_reason text,
    changed_by_role text,
    changed_by uuid,
    requested_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at),
    -- The last line of defence against double booking: the worker checks first, under the
    -- doctor's row lock; this constraint holds even if that logic were wrong.
    CONSTRAINT appointments_no_double_booking
        EXCLUDE USING gist (doctor_id WITH =, tstzrange(starts_at, ends_at) WITH &&)
        WHERE (status IN ('pending', 'confirmed'))
);
CREATE INDEX appointments_by_doctor ON booking.appointments (tenant_id, doctor_id, starts_at);
CREATE INDEX appointments_by_patient ON booking.appointments (tenant_id, patient_id, starts_at);

-- Every decided command and the event it produced: a redelivered command republishes this event.
CREATE TABLE booking.processed_commands (
    command_id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    event_id uuid NOT NULL,
    event_type text NOT NULL,
    event text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now()
);
