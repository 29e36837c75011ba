-- In-app notifications, email preferences and reminders (notify: the notification worker's
-- schema; the ingress's notification center also writes read/deleted flags and preferences,
-- the one place another program writes here), and email deliveries (mail: the email worker's).

-- One notification per source (event id, or reminder key) and recipient, however often the
-- source is delivered. Deleting is a flag, so that a redelivered event does not bring it back.
CREATE TABLE notify.notifications (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    recipient_id uuid NOT NULL,
    source_key text NOT NULL,
    kind text NOT NULL,
    appointment_id uuid,
    title text NOT NULL,
    body text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    read_at timestamptz,
    deleted_at timestamptz,
    UNIQUE (source_key, recipient_id)
);
CREATE INDEX notifications_by_recipient ON notify.notifications (tenant_id, recipient_id, created_at DESC)
    WHERE deleted_at IS NULL;

CREATE TABLE notify.preferences (
    user_id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    email_enabled boolean NOT NULL DEFAULT true,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Reminders to send before confirmed appointments: one row per appointment, offset and start
-- time (a rescheduled appointment gets new rows; its unsent old ones are deleted).
CREATE TABLE notify.reminders (
    appointment_id uuid NOT NULL,
    offset_minutes integer NOT NULL,
    starts_at timestamptz NOT NULL,
    tenant_id uuid NOT NULL,
    due_at timestamptz NOT NULL,
    appointment jsonb NOT NULL,
    sent_at timestamptz,
    PRIMARY KEY (appointment_id, offset_minutes, starts_at)
);
CREATE INDEX reminders_due ON notify.reminders (due_at) WHERE sent_at IS NULL;

-- One row per email idempotency key: 'sending' is written (and committed) before the SMTP
-- conversation, 'delivered' after the server accepted the message, 'rejected' on a 5xx.
CREATE TABLE mail.deliveries (
    idempotency_key text PRIMARY KEY,
    tenant_id uuid NOT NULL,
    recipient text NOT NULL,
    kind text NOT NULL,
    status text NOT NULL CHECK (status IN ('sending', 'delivered', 'rejected')),
    message_id text,
    reply text,
    updated_at timestamptz NOT NULL DEFAULT now()
);
