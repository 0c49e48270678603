-- The event archive, partitioned by record time (timestamp_ms, a week per partition, Mondays 00:00 UTC), so old
-- weeks can be exported to a file and dropped whole (`opsledger retention`).
-- What changed: the primary key is (topic, partition, "offset", timestamp_ms) — the partition key must be in it, and a
-- record's timestamp never changes, so (topic, partition, offset) is still unique; `seq` keeps its identity sequence
-- (it continues where it was) but its UNIQUE constraint became a plain index (unique per the sequence); the event_id,
-- type/seq, subject/seq and recorded_at indexes are as before, now per partition. Rows already archived stay where
-- they are, in the partition `event_archive_legacy` (everything before the first week boundary after them).
ALTER TABLE event_archive RENAME TO event_archive_legacy;
ALTER TABLE event_archive_legacy ALTER COLUMN seq DROP IDENTITY;
ALTER TABLE event_archive_legacy DROP CONSTRAINT event_archive_seq_key;
ALTER TABLE event_archive_legacy DROP CONSTRAINT event_archive_pkey;
ALTER INDEX event_archive_event_id RENAME TO event_archive_legacy_event_id;
ALTER INDEX event_archive_type_seq RENAME TO event_archive_legacy_type_seq;
ALTER INDEX event_archive_subject_seq RENAME TO event_archive_legacy_subject_seq;
ALTER INDEX event_archive_recorded_at RENAME TO event_archive_legacy_recorded_at;

CREATE TABLE event_archive (
    seq          bigint GENERATED ALWAYS AS IDENTITY,
    topic        text        NOT NULL,
    partition    integer     NOT NULL,
    "offset"     bigint      NOT NULL,
    timestamp_ms bigint      NOT NULL,
    key          bytea,
    value        bytea,
    headers      jsonb,
    event_id     uuid,
    type         text,
    subject      text,
    occurred_at  timestamptz,
    recorded_at  timestamptz,
    envelope     json,
    PRIMARY KEY (topic, partition, "offset", timestamp_ms)
) PARTITION BY RANGE (timestamp_ms);
CREATE INDEX event_archive_seq ON event_archive (seq);
CREATE INDEX event_archive_event_id ON event_archive (event_id);
CREATE INDEX event_archive_type_seq ON event_archive (type, seq);
CREATE INDEX event_archive_subject_seq ON event_archive (subject, seq);
CREATE INDEX event_archive_recorded_at ON event_archive (recorded_at);

-- Archive partitions brought back from an exported file (`opsledger archive restore`): kept until `until`, then
-- dropped again without a new export (the file holds them).
CREATE TABLE archive_restored (
    partition   text PRIMARY KEY,
    file        text        NOT NULL,
    sha256      text        NOT NULL,
    restored_at timestamptz NOT NULL,
    until       timestamptz NOT NULL
);

DO $$
DECLARE
    week   constant bigint := 7 * 86400000;
    monday constant bigint := 4 * 86400000;
    newest bigint;
    last   bigint;
BEGIN
    SELECT max(timestamp_ms), max(seq) INTO newest, last FROM event_archive_legacy;
    IF newest IS NULL THEN
        DROP TABLE event_archive_legacy;
        RETURN;
    END IF;
    EXECUTE format('ALTER TABLE event_archive ATTACH PARTITION event_archive_legacy FOR VALUES FROM (MINVALUE) TO (%s)',
                   ((newest - monday) / week + 1) * week + monday);
    EXECUTE format('ALTER TABLE event_archive ALTER COLUMN seq RESTART WITH %s', last + 1);
END
$$;
