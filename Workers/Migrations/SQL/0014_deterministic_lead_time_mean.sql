-- The mean lead time of a day is a sum of floating-point minutes, and such a sum depends on the
-- order of its terms in the last bits. avg() took the rows in whatever order the plan read them
-- (insertion order for a sequential scan, key order through an index, another order again after
-- a rebuild), so the same rollups could answer 4320.0000000001 and 4320 on two reads in a row.
-- Summed in a fixed order, the same rows always give the same figure.
CREATE OR REPLACE FUNCTION analytics.report(tenant uuid, only_doctor uuid, from_day date, to_day date)
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
        SELECT avg(t.minutes ORDER BY t.minutes, t.event_id) AS mean,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY t.minutes) AS p50,
               percentile_cont(0.9) WITHIN GROUP (ORDER BY t.minutes) AS p90, count(*)::integer AS count
        FROM analytics.lead_times t WHERE t.tenant_id = tenant AND t.doctor_id = d.id AND t.day = days.day::date
    ) l ON true
    WHERE d.tenant_id = tenant AND (only_doctor IS NULL OR d.id = only_doctor)
    ORDER BY d.display_name, d.id, days.day
$$;
