-- The booking rules, in one place, next to the data they guard. The booking worker decides a
-- whole batch of commands in one call (one round trip, one transaction); the ingress lists free
-- slots with the very same checks, so a slot it offers is a slot the worker accepts.

-- Is [starts, ends) inside one working interval of the doctor's local day? Hours are wall-clock
-- times in the doctor's time zone; a date override replaces that day's weekly hours.
CREATE FUNCTION directory.within_hours(doctor directory.doctors, starts timestamptz, ends timestamptz)
RETURNS boolean LANGUAGE plpgsql STABLE AS $$
DECLARE
    local_start timestamp := starts AT TIME ZONE doctor.time_zone;
    local_end timestamp := ends AT TIME ZONE doctor.time_zone;
    local_day date := local_start::date;
    end_time time;
BEGIN
    IF local_end::date = local_day THEN
        end_time := local_end::time;
    ELSIF local_end = (local_day + 1)::timestamp THEN
        end_time := '24:00';
    ELSE
        RETURN false;  -- crosses local midnight
    END IF;
    IF EXISTS (SELECT 1 FROM directory.date_overrides o WHERE o.doctor_id = doctor.id AND o.day = local_day) THEN
        RETURN EXISTS (
            SELECT 1 FROM directory.date_overrides o
            WHERE o.doctor_id = doctor.id AND o.day = local_day AND o.starts IS NOT NULL
              AND o.starts <= local_start::time AND end_time <= o.ends);
    END IF;
    RETURN EXISTS (
        SELECT 1 FROM directory.weekly_hours h
        WHERE h.doctor_id = doctor.id AND h.weekday = extract(isodow FROM local_day)
          AND h.starts <= local_start::time AND end_time <= h.ends);
END $$;

-- Why [starts, ends) cannot be booked with this doctor (NULL: it can). `ignore_appointment`
-- is the appointment being moved by a reschedule. Buffers add up between neighbours: the
-- doctor's time before and after each appointment is blocked too.
CREATE FUNCTION booking.unbookable_reason(
    doctor directory.doctors, starts timestamptz, ends timestamptz, ignore_appointment uuid, at timestamptz)
RETURNS text LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF starts < at THEN RETURN 'in_the_past'; END IF;
    IF starts < at + make_interval(mins => doctor.minimum_notice_minutes) THEN RETURN 'too_soon'; END IF;
    IF starts > at + make_interval(days => doctor.horizon_days) THEN RETURN 'beyond_horizon'; END IF;
    IF NOT directory.within_hours(doctor, starts, ends) THEN RETURN 'outside_hours'; END IF;
    IF EXISTS (
        SELECT 1 FROM booking.appointments a
        WHERE a.doctor_id = doctor.id AND a.status IN ('pending', 'confirmed')
          AND a.id IS DISTINCT FROM ignore_appointment
          AND tstzrange(a.starts_at - make_interval(mins => doctor.buffer_before_minutes),
                        a.ends_at + make_interval(mins => doctor.buffer_after_minutes))
           && tstzrange(starts - make_interval(mins => doctor.buffer_before_minutes),
                        ends + make_interval(mins => doctor.buffer_after_minutes)))
    THEN
        RETURN 'slot_taken';
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION booking.snapshot(a booking.appointments) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object(
        'appointmentId', a.id, 'doctorId', a.doctor_id, 'patientId', a.patient_id,
        'startsAt', a.starts_at, 'endsAt', a.ends_at, 'status', a.status, 'sequence', a.sequence,
        'requestedAt', a.requested_at)
$$;

-- Decides one command; the caller holds the doctor's row lock. Returns the outcome.
CREATE FUNCTION booking.decide_one(c jsonb, at timestamptz) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    kind text := c->>'type';
    tenant uuid := (c->>'tenantId')::uuid;
    actor_role text := c->>'actorRole';
    actor uuid := (c->>'actorId')::uuid;
    doctor directory.doctors;
    appointment booking.appointments;
    new_starts timestamptz := (c->>'startsAt')::timestamptz;
    new_ends timestamptz := (c->>'endsAt')::timestamptz;
    previous_starts timestamptz;
    previous_ends timestamptz;
    reason text;
    outcome text;
BEGIN
    SELECT * INTO doctor FROM directory.doctors d WHERE d.id = (c->>'doctorId')::uuid AND d.tenant_id = tenant;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('outcome', 'declined', 'declineReason', 'unknown_doctor');
    END IF;

    IF kind = 'appointment.request' THEN
        IF NOT EXISTS (
            SELECT 1 FROM directory.patients p WHERE p.id = (c->>'patientId')::uuid AND p.tenant_id = tenant)
        THEN
            RETURN jsonb_build_object('outcome', 'declined', 'declineReason', 'unknown_patient');
        END IF;
        -- A patient books for themself; the doctor into their own calendar; an admin (or an
        -- operator: system) for anyone.
        IF NOT (actor_role IN ('admin', 'system') OR (actor_role = 'patient' AND actor = (c->>'patientId')::uuid)
                OR (actor_role = 'doctor' AND actor = doctor.id)) THEN
            RETURN jsonb_build_object('outcome', 'declined', 'declineReason', 'not_allowed');
        END IF;
        IF EXISTS (SELECT 1 FROM booking.appointments a WHERE a.id = (c->>'appointmentId')::uuid) THEN
            RETURN jsonb_build_object('outcome', 'declined', 'declineReason', 'invalid_transition');
        END IF;
        reason := booking.unbookable_reason(doctor, new_starts, new_ends, NULL, at);
        IF reason IS NOT NULL THEN
            RETURN jsonb_build_object('outcome', 'declined', 'declineReason', reason);
        END IF;
        INSERT INTO booking.appointments (
            id, tenant_id, doctor_id, patient_id, starts_at, ends_at, status, sequence, reason,
            changed_by_role, changed_by, requested_at)
        VALUES (
            (c->>'appointmentId')::uuid, tenant, doctor.id, (c->>'patientId')::uuid, new_starts, new_ends,
            CASE WHEN doctor.requires_confirmation THEN 'pending' ELSE 'confirmed' END, 0, c->>'reason',
            actor_role, actor, (c->>'occurredAt')::timestamptz)
        RETURNING * INTO appointment;
        RETURN jsonb_build_object('outcome', 'booked', 'appointment', booking.snapshot(appointment));
    END IF;

    SELECT * INTO appointment FROM booking.appointments a
    WHERE a.id = (c->>'appointmentId')::uuid AND a.tenant_id = tenant AND a.doctor_id = doctor.id;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('outcome', 'declined', 'declineReason', 'unknown_appointment');
    END IF;
    -- Patients may cancel and move their own appointments; doctors act on their own calendar;
    -- admins and operators (system: fleet publish, replays) on the whole tenant.
    IF NOT (actor_role IN ('admin', 'system')
            OR (actor_role = 'doctor' AND actor = doctor.id)
            OR (actor_role = 'patient' AND actor = appointment.patient_id
                AND kind IN ('appointment.cancel', 'appointment.reschedule'))) THEN
        RETURN jsonb_build_object('outcome', 'declined', 'declineReason', 'not_allowed');
    END IF;

    CASE kind
    WHEN 'appointment.confirm' THEN
        IF appointment.status <> 'pending' THEN
            RETURN jsonb_build_object('outcome', 'declined', 'declineReason', 'invalid_transition');
        END IF;
        UPDATE booking.appointments SET status = 'confirmed', sequence = sequence + 1, changed_by_role = actor_role,
            changed_by = actor, updated_at = at
        WHERE id = appointment.id RETURNING * INTO appointment;
        outcome := 'confirmed';
    WHEN 'appointment.reject' THEN
        IF appointment.status <> 'pending' THEN
            RETURN jsonb_build_object('outcome', 'declined', 'declineReason', 'invalid_transition');
        END IF;
        UPDATE booking.appointments SET status = 'rejected', sequence = sequence + 1, status_reason = c->>'reason',
            changed_by_role = actor_role, changed_by = actor, updated_at = at
        WHERE id = appointment.id RETURNING * INTO appointment;
        outcome := 'rejected';
    WHEN 'appointment.cancel' THEN
        IF appointment.status NOT IN ('pending', 'confirmed') THEN
            RETURN jsonb_build_object('outcome', 'declined', 'declineReason', 'invalid_transition');
        END IF;
        UPDATE booking.appointments SET status = 'cancelled', sequence = sequence + 1, status_reason = c->>'reason',
            changed_by_role = actor_role, changed_by = actor, updated_at = at
        WHERE id = appointment.id RETURNING * INTO appointment;
        outcome := 'cancelled';
    WHEN 'appointment.reschedule' THEN
        IF appointment.status NOT IN ('pending', 'confirmed') THEN
            RETURN jsonb_build_object('outcome', 'declined', 'declineReason', 'invalid_transition');
        END IF;
        reason := booking.unbookable_reason(doctor, new_starts, new_ends, appointment.id, at);
        IF reason IS NOT NULL THEN
            RETURN jsonb_build_object('outcome', 'declined', 'declineReason', reason);
        END IF;
        previous_starts := appointment.starts_at;
        previous_ends := appointment.ends_at;
        UPDATE booking.appointments SET starts_at = new_starts, ends_at = new_ends, sequence = sequence + 1,
            changed_by_role = actor_role, changed_by = actor, updated_at = at
        WHERE id = appointment.id RETURNING * INTO appointment;
        RETURN jsonb_build_object('outcome', 'rescheduled', 'appointment', booking.snapshot(appointment),
            'previousStartsAt', previous_starts, 'previousEndsAt', previous_ends);
    WHEN 'appointment.complete' THEN
        IF appointment.status <> 'confirmed' THEN
            RETURN jsonb_build_object('outcome', 'declined', 'declineReason', 'invalid_transition');
        END IF;
        UPDATE booking.appointments SET status = 'completed', sequence = sequence + 1, notes = c->>'notes',
            changed_by_role = actor_role, changed_by = actor, updated_at = at
        WHERE id = appointment.id RETURNING * INTO appointment;
        outcome := 'completed';
    WHEN 'appointment.mark_no_show' THEN
        IF appointment.status <> 'confirmed' THEN
            RETURN jsonb_build_object('outcome', 'declined', 'declineReason', 'invalid_transition');
        END IF;
        UPDATE booking.appointments SET status = 'no_show', sequence = sequence + 1,
            changed_by_role = actor_role, changed_by = actor, updated_at = at
        WHERE id = appointment.id RETURNING * INTO appointment;
        outcome := 'no_show';
    ELSE
        RAISE EXCEPTION 'unknown command type %', kind USING ERRCODE = '22023';
    END CASE;
    RETURN jsonb_build_object('outcome', outcome, 'appointment', booking.snapshot(appointment));
END $$;

-- Decides a batch of commands in order, in the caller's transaction. Locks every doctor of the
-- batch first (in id order, so concurrent batches cannot deadlock). A command decided before
-- returns its recorded event instead ('recorded'); the same command twice in one batch is
-- 'repeated'. One result row per command, in input order.
CREATE FUNCTION booking.decide(commands jsonb) RETURNS SETOF jsonb LANGUAGE plpgsql AS $$
DECLARE
    c jsonb;
    id uuid;
    seen uuid[] := '{}';
    recorded text;
    decided jsonb;
    at timestamptz := now();
BEGIN
    PERFORM 1 FROM directory.doctors d
    WHERE d.id IN (SELECT DISTINCT (x->>'doctorId')::uuid FROM jsonb_array_elements(commands) x)
    ORDER BY d.id FOR UPDATE;
    FOR c IN SELECT value FROM jsonb_array_elements(commands) LOOP
        id := (c->>'commandId')::uuid;
        IF id = ANY (seen) THEN
            RETURN NEXT jsonb_build_object('commandId', id, 'outcome', 'repeated');
            CONTINUE;
        END IF;
        seen := seen || id;
        SELECT p.event INTO recorded FROM booking.processed_commands p WHERE p.command_id = id;
        IF FOUND THEN
            RETURN NEXT jsonb_build_object('commandId', id, 'outcome', 'recorded', 'recordedEvent', recorded);
            CONTINUE;
        END IF;
        decided := booking.decide_one(c, at);
        RETURN NEXT decided || jsonb_build_object('commandId', id);
    END LOOP;
END $$;

-- The free slots of a doctor for local days [from_day, to_day]: every slot-length step of each
-- working interval that the booking rules would accept at `at`.
CREATE FUNCTION directory.free_slots(doctor_id uuid, from_day date, to_day date, at timestamptz)
RETURNS TABLE (starts_at timestamptz, ends_at timestamptz) LANGUAGE sql STABLE AS $$
    WITH doctor AS (SELECT * FROM directory.doctors d WHERE d.id = doctor_id),
    days AS (SELECT day::date AS day FROM generate_series(from_day, to_day, interval '1 day') AS day),
    intervals AS (
        SELECT days.day, o.starts, o.ends
        FROM days JOIN directory.date_overrides o ON o.doctor_id = free_slots.doctor_id AND o.day = days.day
        WHERE o.starts IS NOT NULL
        UNION ALL
        SELECT days.day, h.starts, h.ends
        FROM days JOIN directory.weekly_hours h
            ON h.doctor_id = free_slots.doctor_id AND h.weekday = extract(isodow FROM days.day)
        WHERE NOT EXISTS (
            SELECT 1 FROM directory.date_overrides o WHERE o.doctor_id = free_slots.doctor_id AND o.day = days.day)
    ),
    candidates AS (
        SELECT DISTINCT (i.day + i.starts + step * make_interval(mins => d.slot_minutes)) AT TIME ZONE d.time_zone AS starts_at,
               d.slot_minutes
        FROM intervals i CROSS JOIN doctor d
        CROSS JOIN LATERAL generate_series(
            0, floor(extract(epoch FROM (i.ends - i.starts)) / 60 / d.slot_minutes)::int - 1) AS step
    )
    SELECT c.starts_at, c.starts_at + make_interval(mins => c.slot_minutes)
    FROM candidates c CROSS JOIN doctor d
    WHERE booking.unbookable_reason(d, c.starts_at, c.starts_at + make_interval(mins => c.slot_minutes), NULL, at) IS NULL
    ORDER BY c.starts_at
$$;
