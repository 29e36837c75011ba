-- Medical notes (issue 15): a doctor writes consultation notes and prescriptions on their own
-- appointments. A note is never overwritten: a change is a new version beside the old ones, and
-- nothing may update or delete a version (the same guard as the audit trail). Notes arrive as
-- `appointment.add_note` commands and the booking worker stores them with booking.add_notes,
-- in the transaction that records the command.
CREATE TABLE booking.appointment_notes (
    note_id uuid NOT NULL,
    version integer NOT NULL CHECK (version >= 1),
    appointment_id uuid NOT NULL REFERENCES booking.appointments (id),
    tenant_id uuid NOT NULL,
    kind text NOT NULL CHECK (kind IN ('consultation', 'prescription')),
    body text NOT NULL CHECK (length(body) BETWEEN 1 AND 20000),
    author_id uuid NOT NULL,
    command_id uuid NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (note_id, version)
);
CREATE INDEX appointment_notes_by_appointment ON booking.appointment_notes (tenant_id, appointment_id, note_id, version);

CREATE TRIGGER appointment_notes_append_only BEFORE UPDATE OR DELETE ON booking.appointment_notes
    FOR EACH ROW EXECUTE FUNCTION audit.refuse_change();
CREATE TRIGGER appointment_notes_no_truncate BEFORE TRUNCATE ON booking.appointment_notes
    FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change();
REVOKE UPDATE, DELETE, TRUNCATE ON booking.appointment_notes FROM PUBLIC;

-- One row per note command, in the shape of booking.batch_decision plus the version stored.
CREATE TYPE booking.note_decision AS (
    n integer,
    outcome text,  -- note_added, declined, recorded
    decline_reason text,
    status text,
    sequence integer,
    patient_id uuid,
    starts_at timestamptz,
    ends_at timestamptz,
    requested_at timestamptz,
    note_version integer,
    recorded_event text
);

-- Stores a run of note commands in order: the n-th element of each array is command n. Only the
-- doctor of the appointment writes on it (the ingress checks too; this is the truth), not on a
-- rejected or cancelled appointment, and a new version belongs to the note's own appointment.
-- The appointment's row is locked, so two versions of one note are numbered one after the other.
CREATE FUNCTION booking.add_notes(
    command_ids uuid[], tenant_ids uuid[], actor_roles text[], actor_ids uuid[], appointment_ids uuid[], doctor_ids uuid[],
    note_ids uuid[], kinds text[], bodies text[])
RETURNS SETOF booking.note_decision LANGUAGE plpgsql AS $$
DECLARE
    total integer := coalesce(cardinality(command_ids), 0);
    appointment booking.appointments;
    result booking.note_decision;
    next_version integer;
    owner uuid;
BEGIN
    IF total = ALL (ARRAY[cardinality(tenant_ids), cardinality(actor_roles), cardinality(actor_ids),
                          cardinality(appointment_ids), cardinality(doctor_ids), cardinality(note_ids), cardinality(kinds),
                          cardinality(bodies)]) IS NOT TRUE THEN
        RAISE EXCEPTION 'booking.add_notes: every array must hold % elements', total USING ERRCODE = '22023';
    END IF;
    FOR i IN 1 .. total LOOP
        result := ROW(i, 'declined', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)::booking.note_decision;
        SELECT p.event INTO result.recorded_event FROM booking.processed_commands p WHERE p.command_id = command_ids[i];
        IF FOUND THEN
            result.outcome := 'recorded';
            RETURN NEXT result;
            CONTINUE;
        END IF;
        IF EXISTS (SELECT 1 FROM identity.tenants t WHERE t.id = tenant_ids[i] AND t.disabled_at IS NOT NULL) THEN
            result.decline_reason := 'tenant_disabled';
            RETURN NEXT result;
            CONTINUE;
        END IF;
        SELECT * INTO appointment FROM booking.appointments a
        WHERE a.id = appointment_ids[i] AND a.tenant_id = tenant_ids[i] AND a.doctor_id = doctor_ids[i]
        FOR UPDATE;
        IF NOT FOUND THEN
            result.decline_reason := 'unknown_appointment';
            RETURN NEXT result;
            CONTINUE;
        END IF;
        SELECT appointment.status, appointment.sequence, appointment.patient_id, appointment.starts_at, appointment.ends_at,
               appointment.requested_at
        INTO result.status, result.sequence, result.patient_id, result.starts_at, result.ends_at, result.requested_at;
        SELECT max(x.appointment_id::text)::uuid, max(x.version) INTO owner, next_version
        FROM booking.appointment_notes x WHERE x.note_id = note_ids[i];
        IF actor_roles[i] <> 'doctor' OR actor_ids[i] IS DISTINCT FROM appointment.doctor_id
           OR (owner IS NOT NULL AND owner <> appointment.id) THEN
            result.decline_reason := 'not_allowed';
        ELSIF appointment.status IN ('rejected', 'cancelled') THEN
            result.decline_reason := 'invalid_transition';
        ELSE
            result.note_version := coalesce(next_version, 0) + 1;
            INSERT INTO booking.appointment_notes (note_id, version, appointment_id, tenant_id, kind, body, author_id, command_id)
            VALUES (note_ids[i], result.note_version, appointment.id, appointment.tenant_id, kinds[i], bodies[i], actor_ids[i],
                    command_ids[i]);
            result.outcome := 'note_added';
        END IF;
        RETURN NEXT result;
    END LOOP;
END $$;
