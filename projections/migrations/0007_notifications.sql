-- Alert notifications (processors/notify): an outbox per channel, filled by the channel's projection in the same
-- transaction as its offsets, drained by the channel's sender. Rows of every table are partitioned by channel.

-- One row per (channel, lifecycle event): a redelivered event inserts nothing.
CREATE TABLE notifications (
    channel       text        NOT NULL,
    event_id      uuid        NOT NULL,
    type          text        NOT NULL,
    fingerprint   text        NOT NULL,
    group_key     text        NOT NULL,
    at            timestamptz NOT NULL,
    state         text        NOT NULL CHECK (state IN ('pending', 'held', 'sent', 'dropped', 'dead')),
    reason        text,       -- why held or dropped (flapping, silenced:<id>, stale, ...)
    delivery_id   text,       -- the message that carried it
    src_topic     text        NOT NULL,
    src_partition integer     NOT NULL,
    src_offset    bigint      NOT NULL,
    src_key       bytea,
    envelope      json        NOT NULL,  -- the original event, dead-lettered as it came
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (channel, event_id)
);
CREATE INDEX notifications_pending ON notifications (channel, group_key, created_at) WHERE state = 'pending';

-- What each channel knows of each alert: what a message lists.
CREATE TABLE notification_alerts (
    channel         text        NOT NULL,
    fingerprint     text        NOT NULL,
    group_key       text        NOT NULL,
    alert_id        uuid        NOT NULL,
    subject         text        NOT NULL,
    rule_id         text,
    severity        text        NOT NULL,
    summary         text        NOT NULL,
    labels          jsonb       NOT NULL,
    firing          boolean     NOT NULL,
    since           timestamptz NOT NULL,
    acknowledged    boolean     NOT NULL DEFAULT false,
    flapping        boolean     NOT NULL DEFAULT false,
    silenced        boolean     NOT NULL DEFAULT false,  -- the processor said a mute silence covers it
    notified_firing boolean     NOT NULL DEFAULT false,
    last_at         timestamptz NOT NULL,
    PRIMARY KEY (channel, fingerprint)
);
CREATE INDEX notification_alerts_group ON notification_alerts (channel, group_key);

-- Aggregation groups: their clock (group_wait, group_interval ticks, repeat_interval) and when they are due.
CREATE TABLE notification_groups (
    channel         text        NOT NULL,
    group_key       text        NOT NULL,
    labels          jsonb       NOT NULL,
    created_at      timestamptz NOT NULL,
    first_flush_at  timestamptz,
    last_flush_at   timestamptz,
    last_sent_at    timestamptz,
    due_at          timestamptz,
    retry_at        timestamptz,  -- a failed delivery waits for its backoff
    PRIMARY KEY (channel, group_key)
);
CREATE INDEX notification_groups_due ON notification_groups (channel, due_at) WHERE due_at IS NOT NULL;

-- A message, written and committed BEFORE it is sent: a sender that dies between sending and committing finds it
-- again and resends the same content under the same id (email Message-ID, webhook Idempotency-Key).
CREATE TABLE notification_deliveries (
    channel     text        NOT NULL,
    delivery_id text        NOT NULL,
    group_key   text        NOT NULL,
    kind        text        NOT NULL CHECK (kind IN ('changes', 'repeat')),
    event_ids   uuid[]      NOT NULL,
    content     jsonb       NOT NULL,
    state       text        NOT NULL DEFAULT 'sending' CHECK (state IN ('sending', 'sent', 'dead')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    PRIMARY KEY (channel, delivery_id)
);
CREATE INDEX notification_deliveries_open ON notification_deliveries (channel, group_key) WHERE state = 'sending';

-- Every try, recorded as it starts (so a crash mid-send still counts) and completed with its outcome.
CREATE TABLE notification_attempts (
    channel     text        NOT NULL,
    delivery_id text        NOT NULL,
    attempt     integer     NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    ok          boolean,
    error       text,
    PRIMARY KEY (channel, delivery_id, attempt)
);

-- Silences each channel has seen (SilenceCreated), until they expire or are deleted.
CREATE TABLE notification_silences (
    channel    text NOT NULL,
    silence_id uuid NOT NULL,
    silence    jsonb NOT NULL,
    ends_at    timestamptz NOT NULL,
    PRIMARY KEY (channel, silence_id)
);
