-- The waitlist (issue 17): a patient waits for a doctor within a window of days and times of
-- day (the doctor's local time); when a cancellation, rejection or reschedule frees a slot in the
-- window, the waitlist worker offers it, and the patient books it through an ordinary booking
-- request (the booking worker decides, so an offer can never double-book).
CREATE TABLE booking.waitlist_entries (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES identity.tenants (id),
    patient_id uuid NOT NULL,
    doctor_id uuid NOT NULL,
    first_day date NOT NULL,
    last_day date NOT NULL CHECK (last_day >= first_day AND last_day - first_day <= 366),
    earliest time NOT NULL,
    latest time NOT NULL CHECK (latest > earliest),
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'left', 'booked', 'expired')),
    created_at timestamptz NOT NULL DEFAULT now(),
    ended_at timestamptz
);
CREATE INDEX waitlist_entries_active ON booking.waitlist_entries (doctor_id, first_day, last_day) WHERE status = 'active';
CREATE INDEX waitlist_entries_by_patient ON booking.waitlist_entries (tenant_id, patient_id, created_at DESC);

-- One offer of one freed slot to one entry. Its id is the id of the appointment that booking it
-- requests, so the booked event names the offer it took.
CREATE TABLE booking.waitlist_offers (
    id uuid PRIMARY KEY,
    entry_id uuid NOT NULL REFERENCES booking.waitlist_entries (id),
    tenant_id uuid NOT NULL,
    patient_id uuid NOT NULL,
    doctor_id uuid NOT NULL,
    starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL CHECK (ends_at > starts_at),
    -- sha256 of the one-click link's token (the token itself is derived, never stored).
    token_hash text NOT NULL UNIQUE,
    -- open: bookable; claimed: a booking request went out; taken: booked by this patient; gone:
    -- booked by someone else; expired: its hold or the slot's time passed.
    status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'claimed', 'taken', 'gone', 'expired')),
    offered_at timestamptz NOT NULL DEFAULT now(),
    -- One by one: when the hold lapses and the next patient is offered the slot.
    hold_until timestamptz,
    expires_at timestamptz NOT NULL,
    closed_at timestamptz,
    -- What made the offer (the event that freed the slot, or the lapsed hold before it): a
    -- redelivered event finds its offers again and announces them again, never twice over.
    source text NOT NULL,
    -- What closed it (a booked event, a lapse): a redelivery tells the same patients again.
    closed_by text,
    UNIQUE (entry_id, starts_at)
);
CREATE INDEX waitlist_offers_live ON booking.waitlist_offers (doctor_id, starts_at) WHERE status IN ('open', 'claimed');
CREATE INDEX waitlist_offers_by_source ON booking.waitlist_offers (source);
CREATE INDEX waitlist_offers_holds ON booking.waitlist_offers (hold_until) WHERE status = 'open' AND hold_until IS NOT NULL;

-- How a clinic offers freed slots: to everyone waiting at once (the first to book gets it), or
-- one by one, each holding it for hold_minutes.
CREATE TABLE booking.waitlist_settings (
    tenant_id uuid PRIMARY KEY REFERENCES identity.tenants (id),
    mode text NOT NULL DEFAULT 'all' CHECK (mode IN ('all', 'one_by_one')),
    hold_minutes integer NOT NULL DEFAULT 30 CHECK (hold_minutes BETWEEN 1 AND 1440),
    updated_at timestamptz NOT NULL DEFAULT now()
);
