CREATE TABLE ingress_readings (
    id              uuid PRIMARY KEY,
    version         integer     NOT NULL,
    customer_name   text        NOT NULL,
    address         text        NOT NULL,
    node_id         text        NOT NULL,
    level_dbmv      double precision NOT NULL,
    freq_start_mhz  double precision NOT NULL,
    freq_end_mhz    double precision NOT NULL,
    split_plan      text        NOT NULL,
    test_point      text        NOT NULL,
    home_connected  boolean     NOT NULL,
    install_phase   text        NOT NULL,
    technician      text        NOT NULL,
    notes           text        NOT NULL,
    attachments     text[]      NOT NULL,
    submitted_at    timestamptz NOT NULL,
    submitted_by    text,
    updated_at      timestamptz NOT NULL,
    retracted       boolean     NOT NULL DEFAULT false,
    last_event_id   uuid        NOT NULL
);
CREATE INDEX ingress_readings_node ON ingress_readings (node_id, submitted_at DESC);
CREATE INDEX ingress_readings_submitted ON ingress_readings (submitted_at DESC, id DESC);
CREATE INDEX ingress_readings_customer ON ingress_readings (lower(customer_name));

-- Every event of every reading, applied or not (a stale or duplicate correction is kept, marked unapplied).
CREATE TABLE ingress_reading_history (
    event_id    uuid PRIMARY KEY,
    reading_id  uuid        NOT NULL,
    version     integer     NOT NULL,
    type        text        NOT NULL,
    occurred_at timestamptz NOT NULL,
    actor       text,
    applied     boolean     NOT NULL,
    envelope    json        NOT NULL
);
CREATE INDEX ingress_reading_history_reading ON ingress_reading_history (reading_id, version);

-- Derived by the processor; keyed by the reading version it judged, so order of arrival does not matter.
CREATE TABLE ingress_limit_exceeded (
    reading_id     uuid    NOT NULL,
    version        integer NOT NULL,
    limit_dbmv     double precision NOT NULL,
    exceeded_by_db double precision NOT NULL,
    limit_rule     text    NOT NULL,
    event_id       uuid    NOT NULL,
    PRIMARY KEY (reading_id, version)
);

CREATE TABLE files (
    sha256        text PRIMARY KEY,
    size_bytes    bigint      NOT NULL,
    content_type  text        NOT NULL,
    original_name text        NOT NULL,
    uploaded_at   timestamptz NOT NULL,
    uploaded_by   text
);
