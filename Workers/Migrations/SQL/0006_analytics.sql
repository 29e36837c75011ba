-- Rollups per tenant, doctor and day (the appointment's day in the doctor's time zone),
-- maintained by the analytics worker and rebuilt at will by `fleet analytics rebuild`.
-- Available minutes and lead-time percentiles are computed when read (analytics.report), so
-- they follow the doctor's current hours and need no upkeep.

CREATE TABLE analytics.daily_rollups (
    tenant_id uuid NOT NULL,
    doctor_id uuid NOT NULL,
    day date NOT NULL,
    requested integer NOT NULL DEFAULT 0,
    booked integer NOT NULL DEFAULT 0,
    confirmed integer NOT NULL DEFAULT 0,
    rejected integer NOT NULL DEFAULT 0,
    cancelled_by_patient integer NOT NULL DEFAULT 0,
    cancelled_by_doctor integer NOT NULL DEFAULT 0,
    cancelled_by_clinic integer NOT NULL DEFAULT 0,
    completed integer NOT NULL DEFAULT 0,
    no_shows integer NOT NULL DEFAULT 0,
    -- Minutes of appointments that hold the doctor's time on this day (moves with reschedules,
    -- leaves with cancellations and rejections).
    booked_minutes integer NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, doctor_id, day)
);

CREATE TABLE analytics.daily_declines (
    tenant_id uuid NOT NULL,
    doctor_id uuid NOT NULL,
    day date NOT NULL,
    reason text NOT NULL,
    declined integer NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, doctor_id, day, reason)
);

-- Request → appointment start, per booking, for mean and percentiles.
CREATE TABLE analytics.lead_times (
    event_id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    doctor_id uuid NOT NULL,
    day date NOT NULL,
    minutes double precision NOT NULL
);
CREATE INDEX lead_times_by_day ON analytics.lead_times (tenant_id, doctor_id, day);

-- Events already counted: a redelivered event counts once. Kept beside the rollups (not in
-- runtime.processed_messages) so that a rebuild replaces both together.
CREATE TABLE analytics.counted_events (
    event_id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL
);

-- Working minutes of a doctor's local day: weekly hours, or that date's override. Measured
-- between wall-clock times in the doctor's zone, so a day on which the clocks change counts
-- the minutes that really pass (01:00–05:00 on a spring-forward night is 180 minutes).
CREATE FUNCTION analytics.available_minutes(doctor directory.doctors, local_day date) RETURNS integer
LANGUAGE sql STABLE AS $$
    WITH intervals AS (
        SELECT o.starts, o.ends FROM directory.date_overrides o
        WHERE o.doctor_id = doctor.id AND o.day = local_day AND o.starts IS NOT NULL
        UNION ALL
        SELECT h.starts, h.ends FROM directory.weekly_hours h
        WHERE h.doctor_id = doctor.id AND h.weekday = extract(isodow FROM local_day)
          AND NOT EXISTS (SELECT 1 FROM directory.date_overrides o WHERE o.doctor_id = doctor.id AND o.day = local_day)
    )
    SELECT coalesce(sum(extract(epoch FROM
        ((local_day + i.ends) AT TIME ZONE doctor.time_zone) - ((local_day + i.starts) AT TIME ZONE doctor.time_zone)) / 60), 0)::integer
    FROM intervals i
$$;

-- One row per doctor (of the tenant; one doctor when given) and local day in [from_day, to_day].
CREATE FUNCTION analytics.report(tenant uuid, only_doctor uuid, from_day date, to_day date)
RETURNS TABLE (
    doctor_id uuid, doctor_name text, day date, requested integer, booked integer, confirmed integer, rejected integer,
    cancelled_by_patient integer, cancelled_by_doctor integer, cancelled_by_clinic integer, completed integer,
    no_shows integer, booked_minutes integer, available_minutes integer, declined jsonb,
    lead_mean double precision, lead_p50 double precision, lead_p90 double precision, lead_count integer)
LANGUAGE sql STABLE AS $$
    SELECT d.id, d.display_name, days.day::date,
        coalesce(r.requested, 0), coalesce(r.booked, 0), coalesce(r.confirmed, 0), coalesce(r.rejected, 0),
        coalesce(r.cancelled_by_patient, 0), coalesce(r.cancelled_by_doctor, 0), coalesce(r.cancelled_by_clinic, 0),
        coalesce(r.completed, 0), coalesce(r.no_shows, 0), coalesce(r.booked_minutes, 0),
        analytics.available_minutes(d, days.day::date),
        coalesce((SELECT jsonb_object_agg(x.reason, x.declined) FROM analytics.daily_declines x
                  WHERE x.tenant_id = tenant AND x.doctor_id = d.id AND x.day = days.day::date AND x.declined <> 0), '{}'::jsonb),
        l.mean, l.p50, l.p90, coalesce(l.count, 0)
    FROM directory.doctors d
    CROSS JOIN generate_series(from_day, to_day, interval '1 day') AS days(day)
    LEFT JOIN analytics.daily_rollups r ON r.tenant_id = tenant AND r.doctor_id = d.id AND r.day = days.day::date
    LEFT JOIN LATERAL (
        SELECT avg(t.minutes) AS mean, percentile_cont(0.5) WITHIN GROUP (ORDER BY t.minutes) AS p50,
               percentile_cont(0.9) WITHIN GROUP (ORDER BY t.minutes) AS p90, count(*)::integer AS count
        FROM analytics.lead_times t WHERE t.tenant_id = tenant AND t.doctor_id = d.id AND t.day = days.day::date
    ) l ON true
    WHERE d.tenant_id = tenant AND (only_doctor IS NULL OR d.id = only_doctor)
    ORDER BY d.display_name, d.id, days.day
$$;
