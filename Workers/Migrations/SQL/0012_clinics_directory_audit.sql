-- Running a clinic chain: tenants with a time zone, platform operators, a directory patients can
-- search, patients' profiles, and the audit trail of every read of health data.

-- Clinics -------------------------------------------------------------------------------------
ALTER TABLE identity.tenants ADD COLUMN time_zone text NOT NULL DEFAULT 'UTC';

-- Platform operators create and disable clinics. They live in a tenant of their own, and only
-- there: no clinic's API can make one (the ingress never creates the role), and this CHECK holds
-- even if it tried.
INSERT INTO identity.tenants (id, name) VALUES ('00000000-0000-4000-8000-00000000ffff', 'CareFleet platform')
ON CONFLICT (id) DO NOTHING;
ALTER TABLE identity.users DROP CONSTRAINT users_role_check;
ALTER TABLE identity.users ADD CONSTRAINT users_role_check CHECK (
    role IN ('patient', 'doctor', 'admin', 'platform')
    AND (role = 'platform') = (tenant_id = '00000000-0000-4000-8000-00000000ffff'));

-- The directory -------------------------------------------------------------------------------
ALTER TABLE directory.doctors
    ADD COLUMN specialties text[] NOT NULL DEFAULT '{}',
    ADD COLUMN languages text[] NOT NULL DEFAULT '{}',
    ADD COLUMN bio text,
    ADD COLUMN location text;
UPDATE directory.doctors SET specialties = ARRAY[specialty] WHERE specialty IS NOT NULL;

-- Full-text search over name, specialties and bio ('simple': names and terms are not stemmed).
-- array_to_string is only STABLE in general, but on text[] it is immutable in fact.
CREATE FUNCTION directory.doctor_search_text(name text, specialties text[], bio text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT to_tsvector('simple'::regconfig,
        coalesce(name, '') || ' ' || coalesce(array_to_string(specialties, ' '), '') || ' ' || coalesce(bio, ''))
$$;
ALTER TABLE directory.doctors
    ADD COLUMN search tsvector GENERATED ALWAYS AS (directory.doctor_search_text(display_name, specialties, bio)) STORED;
CREATE INDEX doctors_search ON directory.doctors USING gin (search);
CREATE INDEX doctors_specialties ON directory.doctors USING gin (specialties);

ALTER TABLE directory.patients ADD COLUMN preferred_language text;

-- The audit trail (the audit worker's schema) ----------------------------------------------
-- Who read which health data, when, from where and why: one row per subject read. Append-only:
-- rows are never changed or removed, whoever asks (the trigger holds even for the table's owner),
-- and the programs' role gets no UPDATE, DELETE or TRUNCATE.
CREATE SCHEMA IF NOT EXISTS audit;
CREATE TABLE audit.trail (
    id bigserial PRIMARY KEY,
    event_id uuid NOT NULL,
    tenant_id uuid NOT NULL,
    actor_id uuid,
    actor_role text NOT NULL,
    action text NOT NULL,
    subject_kind text NOT NULL CHECK (subject_kind IN ('appointment', 'patient', 'note')),
    subject_id uuid NOT NULL,
    patient_id uuid,
    reason text,
    address text NOT NULL,
    request_id text NOT NULL,
    at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (event_id, subject_kind, subject_id)
);
CREATE INDEX trail_by_time ON audit.trail (tenant_id, at);
CREATE INDEX trail_by_patient ON audit.trail (tenant_id, patient_id, at);
CREATE INDEX trail_by_actor ON audit.trail (tenant_id, actor_id, at);

CREATE FUNCTION audit.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only: % is not allowed', TG_OP USING ERRCODE = '42501';
END $$;
CREATE TRIGGER trail_append_only BEFORE UPDATE OR DELETE ON audit.trail
    FOR EACH ROW EXECUTE FUNCTION audit.refuse_change();
CREATE TRIGGER trail_no_truncate BEFORE TRUNCATE ON audit.trail
    FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change();
REVOKE UPDATE, DELETE, TRUNCATE ON audit.trail FROM PUBLIC;
