-- The overlap check of booking.unbookable_reason compared buffered ranges of existing
-- appointments, which no index can answer: every check scanned all of the doctor's active
-- appointments. The same condition, written on the appointments' own ranges (widened on the
-- new appointment's side by both buffers), is answered by the exclusion constraint's GiST index:
--   [a.start - before, a.end + after) && [start - before, end + after)
--   ⟺ a.start < end + after + before  and  start - before - after < a.end
--   ⟺ [a.start, a.end) && [start - before - after, end + after + before)
CREATE OR REPLACE FUNCTION booking.unbookable_reason(
    doctor directory.doctors, starts timestamptz, ends timestamptz, ignore_appointment uuid, at timestamptz)
RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
    gap interval := make_interval(mins => doctor.buffer_before_minutes + doctor.buffer_after_minutes);
BEGIN
    IF starts < at THEN RETURN 'in_the_past'; END IF;
    IF starts < at + make_interval(mins => doctor.minimum_notice_minutes) THEN RETURN 'too_soon'; END IF;
    IF starts > at + make_interval(days => doctor.horizon_days) THEN RETURN 'beyond_horizon'; END IF;
    IF NOT directory.within_hours(doctor, starts, ends) THEN RETURN 'outside_hours'; END IF;
    IF EXISTS (
        SELECT 1 FROM booking.appointments a
        WHERE a.doctor_id = doctor.id AND a.status IN ('pending', 'confirmed')
          AND tstzrange(a.starts_at, a.ends_at) && tstzrange(starts - gap, ends + gap)
          AND a.id IS DISTINCT FROM ignore_appointment)
    THEN
        RETURN 'slot_taken';
    END IF;
    RETURN NULL;
END $$;
