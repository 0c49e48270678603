-- Analytics read models (issue 12). Every metric table is partitioned by time (projections/partitions.py makes the
-- partitions as rows need them; `opsledger retention` drops whole partitions past each level's retention).
-- A series is referred to by series_id: the first 8 bytes of sha256(series key) as a signed bigint
-- (schemas/analytics/series.py series_id), so writers and readers compute it and no lookup table is needed.

-- Every series the detector has seen: what GET /api/ml/models shows.
CREATE TABLE metric_series (
    series_id  bigint PRIMARY KEY,
    series     text        NOT NULL,
    points     bigint      NOT NULL,  -- points the detector has learnt from
    warm       boolean     NOT NULL,  -- its warm-up is over: it judges
    first_t    timestamptz NOT NULL,
    last_t     timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX metric_series_name ON metric_series (series text_pattern_ops);

-- Raw points with the detector's verdict (a day per partition).
CREATE TABLE metric_points (
    series_id bigint           NOT NULL,
    t         timestamptz      NOT NULL,
    value     double precision NOT NULL,
    score     real,               -- NULL: came out of order, not scored
    expected  real,
    lower     real,
    upper     real,
    anomaly   boolean          NOT NULL,
    PRIMARY KEY (series_id, t)
) PARTITION BY RANGE (t);
CREATE INDEX metric_points_t ON metric_points USING brin (t);

-- Tumbling rollups: 1 min (a day per partition), 5 min (a week), 1 h (four weeks). The key covers the figures, so a
-- series' range is read from the index alone.
CREATE TABLE metric_rollups_1m (
    series_id bigint           NOT NULL,
    t         timestamptz      NOT NULL,  -- bucket start
    count     integer          NOT NULL,
    min       double precision NOT NULL,
    max       double precision NOT NULL,
    sum       double precision NOT NULL,
    p95       double precision NOT NULL,
    PRIMARY KEY (series_id, t) INCLUDE (count, min, max, sum, p95)
) PARTITION BY RANGE (t);
-- "The busiest interfaces lately" reads a time range across every series: a BRIN index on t serves it, for little.
CREATE INDEX metric_rollups_1m_t ON metric_rollups_1m USING brin (t);
CREATE TABLE metric_rollups_5m (LIKE metric_rollups_1m INCLUDING ALL) PARTITION BY RANGE (t);
CREATE TABLE metric_rollups_1h (LIKE metric_rollups_1m INCLUDING ALL) PARTITION BY RANGE (t);

-- Points later than the grace (not folded) and repeated times (first value kept), per series.
CREATE TABLE metric_refusals (
    series_id  bigint      PRIMARY KEY,
    late       bigint      NOT NULL,
    duplicates bigint      NOT NULL,
    updated_at timestamptz NOT NULL
);

-- Anomalies raised and cleared (AnomalyDetected / AnomalyCleared).
CREATE TABLE metric_anomalies (
    event_id uuid PRIMARY KEY,
    series_id bigint      NOT NULL,
    series   text        NOT NULL,
    type     text        NOT NULL,
    at       timestamptz NOT NULL,
    score    real        NOT NULL,
    value    double precision NOT NULL,
    expected double precision,
    lower    double precision,
    upper    double precision,
    reason   text
);
CREATE INDEX metric_anomalies_series ON metric_anomalies (series_id, at);

-- The latest capacity forecast of each interface (utilisation of the busier direction).
CREATE TABLE capacity_forecasts (
    series_id               bigint PRIMARY KEY,
    series                  text        NOT NULL,
    device_id               text        NOT NULL,
    if_index                integer     NOT NULL,
    at                      timestamptz NOT NULL,  -- the last hour it saw
    threshold               real        NOT NULL,
    current                 double precision NOT NULL,
    slope_per_day           double precision NOT NULL,
    season                  text        NOT NULL,
    hours_until             double precision,
    hours_until_pessimistic double precision,
    history_hours           integer     NOT NULL,
    points                  jsonb       NOT NULL,
    request_id              text,
    event_id                uuid        NOT NULL
);
CREATE INDEX capacity_forecasts_device ON capacity_forecasts (device_id, if_index);

-- Submitted batches (ML clients, ingress levels) and whether the processor's verdict on them is projected: reads
-- given a submission's consistency token wait for it. A row may first be made by the verdict (scored = true).
CREATE TABLE metric_submissions (
    event_id      uuid PRIMARY KEY,
    series_id     bigint,
    points        integer,
    src_partition integer,
    src_offset    bigint,
    submitted_at  timestamptz,
    scored        boolean NOT NULL DEFAULT false
);
CREATE INDEX metric_submissions_src ON metric_submissions (src_partition, src_offset) WHERE NOT scored;

-- Every rate interval is now a point of its interface's series (metric_points and the rollups, with retention):
-- the unbounded per-interval table goes.
DROP TABLE interface_rates;

-- Signed ML requests (X-Opsledger-Signature, the webhooks' scheme): each signature is accepted once, so a captured
-- request cannot be sent again within the timestamp tolerance. Rows older than the tolerance are useless.
CREATE TABLE request_signatures (
    signature text        PRIMARY KEY,
    key_id    uuid        NOT NULL,
    seen_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX request_signatures_seen ON request_signatures (seen_at);

-- Root cause (alerts): the alert a symptom is grouped under (AlertSuppressed), until AlertUnsuppressed.
ALTER TABLE alerts ADD COLUMN suppressed_by uuid;
CREATE INDEX alerts_suppressed_by ON alerts (suppressed_by) WHERE suppressed_by IS NOT NULL;
