-- The transactional outbox: a command's events are committed here before its 202, then produced in order by the relay
-- (infra/outbox.py). A row keeps where the broker put it; it is forgotten once the archive holds its event, and sent
-- again (same event id) when a broker restart lost it before the archive did.
CREATE TABLE outbox (
    seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id    uuid        NOT NULL,
    topic       text        NOT NULL,
    key         bytea,
    value       bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    partition   integer,
    "offset"    bigint,
    produced_at timestamptz
);
CREATE INDEX outbox_unproduced ON outbox (seq) WHERE "offset" IS NULL;
CREATE INDEX outbox_event_id ON outbox (event_id);

-- One row: whether the relay may produce (the supervisor pauses it while it restores a restarted embedded broker, so
-- the restored records keep their offsets).
CREATE TABLE outbox_control (
    id         boolean PRIMARY KEY DEFAULT true CHECK (id),
    paused     boolean     NOT NULL DEFAULT false,
    reason     text,
    changed_at timestamptz NOT NULL DEFAULT now(),
    idle       boolean     NOT NULL DEFAULT false  -- the relay saw the pause and dropped whatever it had in flight
);
INSERT INTO outbox_control DEFAULT VALUES;
