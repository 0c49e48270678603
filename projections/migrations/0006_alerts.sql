-- Alert rules as the API shows them: the latest definition and its version (deleted ones kept, flagged).
CREATE TABLE alert_rules (
    rule_id       text PRIMARY KEY,
    version       integer     NOT NULL,
    name          text        NOT NULL,
    severity      text        NOT NULL,
    kind          text        NOT NULL,
    definition    jsonb       NOT NULL,  -- the AlertRule payload (labels, params, flapping)
    deleted       boolean     NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL,
    created_by    text,
    updated_at    timestamptz NOT NULL,
    updated_by    text,
    last_event_id uuid        NOT NULL
);

-- Silences and maintenance windows; ended_at is set when one is deleted or expires.
CREATE TABLE alert_silences (
    silence_id uuid PRIMARY KEY,
    matchers   jsonb       NOT NULL,
    starts_at  timestamptz NOT NULL,
    ends_at    timestamptz NOT NULL,
    recurrence jsonb,
    mode       text        NOT NULL,
    created_by text        NOT NULL,
    comment    text        NOT NULL,
    created_at timestamptz NOT NULL,
    ended_at   timestamptz,
    ended_by   text,
    end_reason text
);
CREATE INDEX alert_silences_open ON alert_silences (ends_at) WHERE ended_at IS NULL;

-- One row per alert (a fingerprint raises a new alert each time it fires again).
CREATE TABLE alerts (
    alert_id        uuid PRIMARY KEY,
    fingerprint     text        NOT NULL,
    rule_id         text,
    subject         text        NOT NULL,
    severity        text        NOT NULL,
    summary         text        NOT NULL,
    labels          jsonb       NOT NULL,
    value           double precision,
    state           text        NOT NULL,  -- firing | resolved
    acknowledged    boolean     NOT NULL DEFAULT false,
    acknowledged_at timestamptz,
    ack_by          text,
    ack_note        text,
    ack_until       timestamptz,
    silenced_by     uuid,
    flapping        boolean     NOT NULL DEFAULT false,
    raised_at       timestamptz NOT NULL,
    resolved_at     timestamptz,
    resolve_reason  text,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX alerts_raised ON alerts (raised_at DESC, alert_id DESC);
CREATE INDEX alerts_firing ON alerts (severity, raised_at) WHERE state = 'firing';
CREATE INDEX alerts_fingerprint ON alerts (fingerprint, raised_at);
CREATE INDEX alerts_rule ON alerts (rule_id, raised_at) WHERE rule_id IS NOT NULL;
CREATE INDEX alerts_subject ON alerts (subject, raised_at);
CREATE INDEX alerts_device ON alerts ((labels->>'device'), raised_at) WHERE labels ? 'device';

-- Every lifecycle event (and refusal) as the processor decided it; causation_id names the request or source event.
CREATE TABLE alert_history (
    event_id     uuid PRIMARY KEY,
    alert_id     uuid,
    fingerprint  text        NOT NULL,
    type         text        NOT NULL,
    at           timestamptz NOT NULL,
    actor        text,
    causation_id uuid,
    envelope     json        NOT NULL
);
CREATE INDEX alert_history_alert ON alert_history (alert_id, at) WHERE alert_id IS NOT NULL;
CREATE INDEX alert_history_cause ON alert_history (causation_id) WHERE causation_id IS NOT NULL;

-- Requests about alerts (acknowledge, resolve, raise) and where they sit in their topic, so a read given a
-- consistency token can wait until the processor has decided them.
CREATE TABLE alert_commands (
    event_id      uuid PRIMARY KEY,
    type          text        NOT NULL,
    fingerprint   text        NOT NULL,
    alert_id      uuid,
    at            timestamptz NOT NULL,
    actor         text,
    src_partition integer     NOT NULL,
    src_offset    bigint      NOT NULL,
    envelope      json        NOT NULL
);
CREATE INDEX alert_commands_position ON alert_commands (src_partition, src_offset);
