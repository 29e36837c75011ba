-- `fleet dlq replay` records each dead letter it republished, so the same replay run twice
-- never republishes a message twice. The row is written in the same transaction that waits
-- for the broker's acknowledgement of the republished copy.
CREATE TABLE IF NOT EXISTS runtime.dead_letter_replays (
    dlq_topic text NOT NULL,
    dlq_partition integer NOT NULL,
    dlq_offset bigint NOT NULL,
    replayed_to text NOT NULL,
    replayed_partition integer,
    replayed_offset bigint,
    replayed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dlq_topic, dlq_partition, dlq_offset)
);
