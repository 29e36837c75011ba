-- A lapsed hold is closed, and its slot offered to the next patient, in one transaction; both
-- patients are told after it commits. lapse_told_at says they were: a worker killed in between
-- tells them on its next tick (the inbox's and the email worker's keys make a second telling
-- nothing new), where before the next patient's offer was made and never announced.
ALTER TABLE booking.waitlist_offers ADD COLUMN lapse_told_at timestamptz;
-- What lapsed before this migration was told then.
UPDATE booking.waitlist_offers SET lapse_told_at = closed_at WHERE status = 'expired';
CREATE INDEX waitlist_offers_lapses_untold ON booking.waitlist_offers (closed_at) WHERE status = 'expired' AND lapse_told_at IS NULL;
