-- One schema per owning program (DESIGN.md §1). A program writes only its own schema.
CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE SCHEMA IF NOT EXISTS identity;   -- ingress: users, refresh tokens, audit log
CREATE SCHEMA IF NOT EXISTS directory;  -- ingress: doctors, patients, availability
CREATE SCHEMA IF NOT EXISTS booking;    -- booking-worker: appointments, processed commands
CREATE SCHEMA IF NOT EXISTS notify;     -- notification-worker: in-app notifications, preferences
CREATE SCHEMA IF NOT EXISTS mail;       -- email-worker: deliveries
CREATE SCHEMA IF NOT EXISTS analytics;  -- analytics-worker: rollups
CREATE SCHEMA IF NOT EXISTS runtime;    -- every worker: which messages its group has processed

-- The worker runtime's idempotency record: a message id is processed at most once per group.
-- Written inside the handler's own transaction, so the record and the effect commit together.
CREATE TABLE IF NOT EXISTS runtime.processed_messages (
    consumer_group text NOT NULL,
    message_id uuid NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, message_id)
);
