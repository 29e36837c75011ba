-- The booking worker decides a batch of commands set-based (issue 12), with two more rules:
-- a start off the doctor's slot grid is declined `off_grid` unless an admin (or an operator)
-- asked for it (issue 11), and the commands of a disabled clinic are declined `tenant_disabled`
-- (issue 15).
--
-- booking.decide (0004) went through the batch one command at a time: per command it re-read
-- jsonb fields, read the doctor, asked two queries about working hours and one about overlaps,
-- built a jsonb snapshot and searched an ever longer array of the command ids seen. That cost
-- several times what PostgreSQL needs per booking. booking.decide_batch takes the batch as typed
-- arrays and decides each run of consecutive requests with a few statements for the whole run;
-- only requests that compete with each other for a doctor's time are decided one by one (in
-- command order, so two requests for one slot give one booking and one `slot_taken`), and so are
-- changes to existing appointments (confirm, cancel, ...). booking.decide stays for workers of the
-- previous release during a rolling upgrade.

-- 0011 adds it too; the rules below read it, so this migration does not depend on that one.
ALTER TABLE identity.tenants ADD COLUMN IF NOT EXISTS disabled_at timestamptz;

-- One command of a batch, as booking.decide_batch reads it.
CREATE TYPE booking.batch_command AS (
    n integer,  -- position in the batch, from 1
    command_id uuid,
    kind text,
    tenant_id uuid,
    actor_role text,
    actor_id uuid,
    occurred_at timestamptz,
    appointment_id uuid,
    doctor_id uuid,
    patient_id uuid,
    starts_at timestamptz,
    ends_at timestamptz,
    reason text,
    notes text,
    allow_off_grid boolean,
    -- 'repeated' (the same command earlier in this batch), 'recorded' (decided before, its event
    -- is in booking.processed_commands), NULL (to be decided now)
    disposition text,
    -- an earlier command of the batch names the same appointment: this one is decided after it
    follows_same_appointment boolean
);

-- What was decided for the command at position n: for an appointment that was booked or changed,
-- the appointment as it is now (status NULL when nothing was), for 'recorded' the event recorded
-- then.
CREATE TYPE booking.batch_decision AS (
    n integer,
    outcome text,  -- booked, declined, confirmed, rejected, cancelled, rescheduled, completed, no_show, recorded, repeated
    decline_reason text,
    status text,
    sequence integer,
    patient_id uuid,
    starts_at timestamptz,
    ends_at timestamptz,
    requested_at timestamptz,
    previous_starts_at timestamptz,
    previous_ends_at timestamptz,
    recorded_event text
);

-- Where [starts, ends) falls in the doctor's working hours of that local day (a date override
-- replaces the day's weekly hours, as in directory.within_hours): inside one working interval,
-- and starting on the slot grid of that interval, i.e. at one of the starts directory.free_slots
-- offers (the interval's start plus a whole number of slots, the slot ending inside it). One row,
-- always. Plain SQL, so that the planner inlines it into the queries that use it.
CREATE FUNCTION booking.placement(doctor_id uuid, time_zone text, slot_minutes integer, starts timestamptz, ends timestamptz)
RETURNS TABLE (within_hours boolean, on_grid boolean) LANGUAGE sql STABLE AS $$
    WITH span AS (
        SELECT local_start::date AS day, extract(epoch FROM local_start::time) AS first_second,
               -- NULL when the span crosses local midnight: no working interval holds it
               CASE WHEN local_end::date = local_start::date THEN extract(epoch FROM local_end::time)
                    WHEN local_end = (local_start::date + 1)::timestamp THEN 86400 END AS end_second
        FROM (SELECT starts AT TIME ZONE time_zone AS local_start, ends AT TIME ZONE time_zone AS local_end) AS local
    ),
    intervals AS (
        SELECT extract(epoch FROM o.starts) AS first_second, extract(epoch FROM o.ends) AS end_second
        FROM span JOIN directory.date_overrides o ON o.doctor_id = placement.doctor_id AND o.day = span.day
        WHERE o.starts IS NOT NULL
        UNION ALL
        SELECT extract(epoch FROM h.starts), extract(epoch FROM h.ends)
        FROM span JOIN directory.weekly_hours h
            ON h.doctor_id = placement.doctor_id AND h.weekday = extract(isodow FROM span.day)::integer
        WHERE NOT EXISTS (SELECT 1 FROM directory.date_overrides o WHERE o.doctor_id = placement.doctor_id AND o.day = span.day)
    )
    SELECT coalesce(bool_or(fits), false), coalesce(bool_or(fits AND aligned), false)
    FROM (
        SELECT i.first_second <= s.first_second AND s.end_second <= i.end_second AS fits,
               mod(s.first_second - i.first_second, placement.slot_minutes * 60) = 0
                   AND s.first_second + placement.slot_minutes * 60 <= i.end_second AS aligned
        FROM span s CROSS JOIN intervals i
    ) AS fit
$$;

-- Decides a run of requests (distinct appointment ids, all doctors locked by the caller) as if
-- one after another. Every rule that does not depend on the other requests of the run is checked
-- for all of them in one statement, which also settles most requests that compete for a doctor's
-- time; all that are booked then are inserted at once. What is left is decided one by one in
-- command order against the calendar as it is then.
CREATE FUNCTION booking.decide_requests(requests booking.batch_command[], at timestamptz)
RETURNS SETOF booking.batch_decision LANGUAGE plpgsql AS $$
DECLARE
    decisions booking.batch_decision[];
    contender record;
    result booking.batch_decision;
BEGIN
    WITH command AS (
        SELECT r.*, d.id AS doctor, d.time_zone, d.slot_minutes, d.minimum_notice_minutes, d.horizon_days,
               d.requires_confirmation, make_interval(mins => d.buffer_before_minutes + d.buffer_after_minutes) AS gap,
               t.disabled_at IS NOT NULL AS tenant_disabled
        FROM unnest(requests) AS r
        LEFT JOIN identity.tenants t ON t.id = r.tenant_id
        LEFT JOIN directory.doctors d ON d.id = r.doctor_id AND d.tenant_id = r.tenant_id
        WHERE r.disposition IS NULL
    ),
    checked AS (
        SELECT c.*, CASE
            WHEN c.tenant_disabled THEN 'tenant_disabled'
            WHEN c.doctor IS NULL THEN 'unknown_doctor'
            WHEN NOT EXISTS (SELECT 1 FROM directory.patients p WHERE p.id = c.patient_id AND p.tenant_id = c.tenant_id)
                THEN 'unknown_patient'
            -- A patient books for themself; the doctor into their own calendar; an admin (or an
            -- operator: system) for anyone.
            WHEN NOT (c.actor_role IN ('admin', 'system') OR (c.actor_role = 'patient' AND c.actor_id = c.patient_id)
                      OR (c.actor_role = 'doctor' AND c.actor_id = c.doctor)) THEN 'not_allowed'
            WHEN EXISTS (SELECT 1 FROM booking.appointments a WHERE a.id = c.appointment_id) THEN 'invalid_transition'
            WHEN c.starts_at < at THEN 'in_the_past'
            WHEN c.starts_at < at + make_interval(mins => c.minimum_notice_minutes) THEN 'too_soon'
            WHEN c.starts_at > at + make_interval(days => c.horizon_days) THEN 'beyond_horizon'
            WHEN NOT place.within_hours THEN 'outside_hours'
            WHEN NOT place.on_grid AND NOT (c.allow_off_grid IS TRUE AND c.actor_role IN ('admin', 'system')) THEN 'off_grid'
            -- The overlap test of 0007 (answered by the exclusion constraint's index).
            WHEN EXISTS (
                SELECT 1 FROM booking.appointments a
                WHERE a.doctor_id = c.doctor AND a.status IN ('pending', 'confirmed')
                  AND tstzrange(a.starts_at, a.ends_at) && tstzrange(c.starts_at - c.gap, c.ends_at + c.gap))
                THEN 'slot_taken'
            END AS decline_reason
        FROM command c
        CROSS JOIN LATERAL booking.placement(c.doctor, c.time_zone, c.slot_minutes, c.starts_at, c.ends_at) AS place
    ),
    -- Two new appointments x, y of a doctor collide when [x.start, x.end) meets
    -- [y.start - gap, y.end + gap), which is when [x.start - gap, x.end) meets [y.start - gap, y.end).
    -- Sorted by those spans' starts, a span meets another when it starts before the furthest end
    -- of those sorted before it, or ends after the start of the one sorted next.
    contention AS (
        SELECT s.n, s.doctor, s.span,
               coalesce(lower(s.span) < max(upper(s.span)) OVER (PARTITION BY s.doctor ORDER BY lower(s.span), s.n
                                                                 ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), false)
               OR coalesce(lead(lower(s.span)) OVER (PARTITION BY s.doctor ORDER BY lower(s.span), s.n) < upper(s.span), false)
               AS contended
        FROM (SELECT k.n, k.doctor, tstzrange(k.starts_at - k.gap, k.ends_at) AS span FROM checked k WHERE k.decline_reason IS NULL) AS s
    ),
    -- Among the contenders, in command order: one that collides with no earlier contender is
    -- booked (a leader), and one that collides with an earlier leader is not. That settles the
    -- usual cases (two or fifty requests for one slot); what is left waits for the loop below.
    collision AS (
        SELECT later.n AS later, earlier.n AS earlier
        FROM contention later JOIN contention earlier
            ON earlier.doctor = later.doctor AND earlier.n < later.n AND earlier.span && later.span
        WHERE later.contended AND earlier.contended
    ),
    leader AS (
        SELECT w.n FROM contention w WHERE w.contended AND NOT EXISTS (SELECT 1 FROM collision x WHERE x.later = w.n)
    ),
    beaten AS (
        SELECT DISTINCT x.later AS n FROM collision x JOIN leader l ON l.n = x.earlier
    )
    SELECT array_agg(ROW(
        k.n,
        CASE WHEN k.decline_reason IS NOT NULL OR b.n IS NOT NULL THEN 'declined'
             WHEN w.contended AND l.n IS NULL THEN 'contended' ELSE 'booked' END,
        coalesce(k.decline_reason, CASE WHEN b.n IS NOT NULL THEN 'slot_taken' END),
        CASE WHEN k.decline_reason IS NOT NULL OR b.n IS NOT NULL THEN NULL
             WHEN k.requires_confirmation THEN 'pending' ELSE 'confirmed' END,
        0, k.patient_id, k.starts_at, k.ends_at, k.occurred_at, NULL, NULL, NULL)::booking.batch_decision)
    INTO decisions
    FROM checked k
    LEFT JOIN contention w ON w.n = k.n
    LEFT JOIN leader l ON l.n = k.n
    LEFT JOIN beaten b ON b.n = k.n;

    INSERT INTO booking.appointments (
        id, tenant_id, doctor_id, patient_id, starts_at, ends_at, status, sequence, reason, changed_by_role, changed_by,
        requested_at)
    SELECT r.appointment_id, r.tenant_id, r.doctor_id, r.patient_id, r.starts_at, r.ends_at, d.status, 0, r.reason,
           r.actor_role, r.actor_id, r.occurred_at
    FROM unnest(decisions) AS d JOIN unnest(requests) AS r ON r.n = d.n
    WHERE d.outcome = 'booked';

    FOR contender IN
        SELECT d.*, r.appointment_id, r.tenant_id, r.doctor_id, r.reason AS note, r.actor_role, r.actor_id,
               make_interval(mins => doc.buffer_before_minutes + doc.buffer_after_minutes) AS gap
        FROM unnest(decisions) AS d JOIN unnest(requests) AS r ON r.n = d.n
        JOIN directory.doctors doc ON doc.id = r.doctor_id
        WHERE d.outcome = 'contended' ORDER BY d.n
    LOOP
        result := ROW(contender.n, 'booked', NULL, contender.status, 0, contender.patient_id, contender.starts_at,
                      contender.ends_at, contender.requested_at, NULL, NULL, NULL);
        IF EXISTS (
            SELECT 1 FROM booking.appointments a
            WHERE a.doctor_id = contender.doctor_id AND a.status IN ('pending', 'confirmed')
              AND tstzrange(a.starts_at, a.ends_at)
                  && tstzrange(contender.starts_at - contender.gap, contender.ends_at + contender.gap))
        THEN
            result := ROW(contender.n, 'declined', 'slot_taken', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
        ELSE
            INSERT INTO booking.appointments (
                id, tenant_id, doctor_id, patient_id, starts_at, ends_at, status, sequence, reason, changed_by_role,
                changed_by, requested_at)
            VALUES (
                contender.appointment_id, contender.tenant_id, contender.doctor_id, contender.patient_id,
                contender.starts_at, contender.ends_at, contender.status, 0, contender.note, contender.actor_role,
                contender.actor_id, contender.requested_at);
        END IF;
        RETURN NEXT result;
    END LOOP;

    RETURN QUERY SELECT * FROM unnest(decisions) AS d WHERE d.outcome <> 'contended';
END $$;

-- Decides one command on an existing appointment (all but requests); the caller holds the
-- doctor's row lock.
CREATE FUNCTION booking.decide_change(c booking.batch_command, at timestamptz)
RETURNS booking.batch_decision LANGUAGE plpgsql AS $$
DECLARE
    doctor directory.doctors;
    appointment booking.appointments;
    transition record;
    refusal text;
    result booking.batch_decision;
BEGIN
    result.n := c.n;
    result.outcome := 'declined';
    IF EXISTS (SELECT 1 FROM identity.tenants t WHERE t.id = c.tenant_id AND t.disabled_at IS NOT NULL) THEN
        result.decline_reason := 'tenant_disabled';
        RETURN result;
    END IF;
    SELECT * INTO doctor FROM directory.doctors d WHERE d.id = c.doctor_id AND d.tenant_id = c.tenant_id;
    IF NOT FOUND THEN
        result.decline_reason := 'unknown_doctor';
        RETURN result;
    END IF;
    SELECT * INTO appointment FROM booking.appointments a
    WHERE a.id = c.appointment_id AND a.tenant_id = c.tenant_id AND a.doctor_id = doctor.id;
    IF NOT FOUND THEN
        result.decline_reason := 'unknown_appointment';
        RETURN result;
    END IF;
    -- Patients may cancel and move their own appointments; doctors act on their own calendar;
    -- admins and operators (system: fleet publish, replays) on the whole tenant.
    IF NOT (c.actor_role IN ('admin', 'system')
            OR (c.actor_role = 'doctor' AND c.actor_id = doctor.id)
            OR (c.actor_role = 'patient' AND c.actor_id = appointment.patient_id
                AND c.kind IN ('appointment.cancel', 'appointment.reschedule'))) THEN
        result.decline_reason := 'not_allowed';
        RETURN result;
    END IF;

    -- From which statuses each command applies, the status it leaves (NULL: unchanged), its outcome.
    SELECT t.* INTO transition FROM (VALUES
        ('appointment.confirm', '{pending}'::text[], 'confirmed', 'confirmed'),
        ('appointment.reject', '{pending}', 'rejected', 'rejected'),
        ('appointment.cancel', '{pending,confirmed}', 'cancelled', 'cancelled'),
        ('appointment.reschedule', '{pending,confirmed}', NULL, 'rescheduled'),
        ('appointment.complete', '{confirmed}', 'completed', 'completed'),
        ('appointment.mark_no_show', '{confirmed}', 'no_show', 'no_show')
    ) AS t(kind, from_statuses, to_status, outcome)
    WHERE t.kind = c.kind;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown command type %', c.kind USING ERRCODE = '22023';
    END IF;
    IF NOT appointment.status = ANY (transition.from_statuses) THEN
        result.decline_reason := 'invalid_transition';
        RETURN result;
    END IF;
    IF c.kind = 'appointment.reschedule' THEN
        refusal := booking.unbookable_reason(doctor, c.starts_at, c.ends_at, appointment.id, at);
        -- As for a request: off the grid comes before a taken slot.
        IF (refusal IS NULL OR refusal = 'slot_taken')
           AND NOT (c.allow_off_grid IS TRUE AND c.actor_role IN ('admin', 'system'))
           AND NOT (SELECT p.on_grid FROM booking.placement(doctor.id, doctor.time_zone, doctor.slot_minutes, c.starts_at, c.ends_at) p)
        THEN
            refusal := 'off_grid';
        END IF;
        IF refusal IS NOT NULL THEN
            result.decline_reason := refusal;
            RETURN result;
        END IF;
    END IF;

    UPDATE booking.appointments a SET
        status = coalesce(transition.to_status, a.status),
        starts_at = CASE WHEN c.kind = 'appointment.reschedule' THEN c.starts_at ELSE a.starts_at END,
        ends_at = CASE WHEN c.kind = 'appointment.reschedule' THEN c.ends_at ELSE a.ends_at END,
        status_reason = CASE WHEN c.kind IN ('appointment.reject', 'appointment.cancel') THEN c.reason ELSE a.status_reason END,
        notes = CASE WHEN c.kind = 'appointment.complete' THEN c.notes ELSE a.notes END,
        sequence = a.sequence + 1, changed_by_role = c.actor_role, changed_by = c.actor_id, updated_at = at
    WHERE a.id = appointment.id
    RETURNING a.status, a.sequence, a.patient_id, a.starts_at, a.ends_at, a.requested_at
    INTO result.status, result.sequence, result.patient_id, result.starts_at, result.ends_at, result.requested_at;
    result.outcome := transition.outcome;
    IF c.kind = 'appointment.reschedule' THEN
        result.previous_starts_at := appointment.starts_at;
        result.previous_ends_at := appointment.ends_at;
    END IF;
    RETURN result;
END $$;

-- Decides a batch of commands in order, in the caller's transaction: the n-th element of every
-- array is the n-th command. Locks every doctor of the batch first (in id order, so concurrent
-- batches cannot deadlock). One row per command, in no particular order (`n` says which).
CREATE FUNCTION booking.decide_batch(
    command_ids uuid[], kinds text[], tenant_ids uuid[], actor_roles text[], actor_ids uuid[], occurred_ats timestamptz[],
    appointment_ids uuid[], doctor_ids uuid[], patient_ids uuid[], starts_ats timestamptz[], ends_ats timestamptz[],
    reasons text[], notes text[], allow_off_grid boolean[])
RETURNS SETOF booking.batch_decision LANGUAGE plpgsql AS $$
DECLARE
    at timestamptz := now();
    total integer := coalesce(cardinality(command_ids), 0);
    commands booking.batch_command[];
    command booking.batch_command;
    i integer := 0;
    run_first integer;  -- where the run of requests gathered so far starts (NULL: none)
BEGIN
    IF total = 0 THEN RETURN; END IF;
    IF total = ALL (ARRAY[cardinality(kinds), cardinality(tenant_ids), cardinality(actor_roles), cardinality(actor_ids),
                          cardinality(occurred_ats), cardinality(appointment_ids), cardinality(doctor_ids),
                          cardinality(patient_ids), cardinality(starts_ats), cardinality(ends_ats), cardinality(reasons),
                          cardinality(notes), cardinality(allow_off_grid)]) IS NOT TRUE THEN
        RAISE EXCEPTION 'booking.decide_batch: every array must hold % elements', total USING ERRCODE = '22023';
    END IF;
    PERFORM 1 FROM directory.doctors d WHERE d.id = ANY (doctor_ids) ORDER BY d.id FOR UPDATE;

    SELECT array_agg(ROW(
        u.n, u.command_id, u.kind, u.tenant_id, u.actor_role, u.actor_id, u.occurred_at, u.appointment_id, u.doctor_id,
        u.patient_id, u.starts_at, u.ends_at, u.reason, u.note, u.allow_off_grid,
        CASE WHEN u.nth_of_command > 1 THEN 'repeated'
             WHEN EXISTS (SELECT 1 FROM booking.processed_commands p WHERE p.command_id = u.command_id) THEN 'recorded' END,
        u.nth_of_appointment > 1)::booking.batch_command ORDER BY u.n)
    INTO commands
    FROM (
        SELECT x.*, row_number() OVER (PARTITION BY x.command_id ORDER BY x.n) AS nth_of_command,
               row_number() OVER (PARTITION BY x.appointment_id ORDER BY x.n) AS nth_of_appointment
        FROM unnest(command_ids, kinds, tenant_ids, actor_roles, actor_ids, occurred_ats, appointment_ids, doctor_ids,
                    patient_ids, starts_ats, ends_ats, reasons, notes, allow_off_grid) WITH ORDINALITY
            AS x(command_id, kind, tenant_id, actor_role, actor_id, occurred_at, appointment_id, doctor_id, patient_id,
                 starts_at, ends_at, reason, note, allow_off_grid, n)
    ) AS u;

    RETURN QUERY
        SELECT c.n, c.disposition, NULL::text, NULL::text, NULL::integer, NULL::uuid, NULL::timestamptz, NULL::timestamptz,
               NULL::timestamptz, NULL::timestamptz, NULL::timestamptz, p.event
        FROM unnest(commands) AS c LEFT JOIN booking.processed_commands p ON p.command_id = c.command_id AND c.disposition = 'recorded'
        WHERE c.disposition IS NOT NULL;

    -- Runs of requests are decided together; a change, or a request naming the appointment of an
    -- earlier command, first closes the run before it, so that everything is decided in order.
    FOREACH command IN ARRAY commands LOOP
        i := i + 1;
        CONTINUE WHEN command.disposition IS NOT NULL;
        IF command.kind = 'appointment.request' AND NOT command.follows_same_appointment THEN
            run_first := coalesce(run_first, i);
            CONTINUE;
        END IF;
        IF run_first IS NOT NULL THEN
            RETURN QUERY SELECT * FROM booking.decide_requests(commands[run_first:i - 1], at);
            run_first := NULL;
        END IF;
        IF command.kind = 'appointment.request' THEN
            run_first := i;
        ELSE
            RETURN NEXT booking.decide_change(command, at);
        END IF;
    END LOOP;
    IF run_first IS NOT NULL THEN
        RETURN QUERY SELECT * FROM booking.decide_requests(commands[run_first:total], at);
    END IF;
END $$;
