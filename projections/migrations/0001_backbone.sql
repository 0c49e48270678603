-- Positions of every projection, written in the same transaction as the read model they describe.
CREATE TABLE projection_offsets (
    projection  text        NOT NULL,
    topic       text        NOT NULL,
    partition   integer     NOT NULL,
    next_offset bigint      NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, topic, partition)
);

-- Every record of every topic, in broker order: the analysts' history and the embedded broker's restore source.
CREATE TABLE event_archive (
    seq          bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    topic        text        NOT NULL,
    partition    integer     NOT NULL,
    "offset"     bigint      NOT NULL,
    timestamp_ms bigint      NOT NULL,
    key          bytea,
    value        bytea,   -- the record's bytes when they are not an event; events are kept as `envelope` text
    headers      jsonb,
    event_id     uuid,
    type         text,
    subject      text,
    occurred_at  timestamptz,
    recorded_at  timestamptz,
    envelope     json,    -- json keeps the exact text (so the bytes can be restored) and is cheap to insert
    PRIMARY KEY (topic, partition, "offset")
);
CREATE INDEX event_archive_event_id ON event_archive (event_id);
CREATE INDEX event_archive_type_seq ON event_archive (type, seq);
CREATE INDEX event_archive_subject_seq ON event_archive (subject, seq);
CREATE INDEX event_archive_recorded_at ON event_archive (recorded_at);

-- Consumer-group positions the broker held, saved so an embedded (in-memory) broker can be restored.
CREATE TABLE broker_group_offsets (
    group_id   text    NOT NULL,
    topic      text    NOT NULL,
    partition  integer NOT NULL,
    committed  bigint  NOT NULL,
    saved_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, topic, partition)
);
