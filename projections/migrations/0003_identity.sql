-- Identity is a conventional store (credentials are not events); every change also emits an audit event.
CREATE TABLE users (
    id            uuid PRIMARY KEY,
    username      text        NOT NULL,
    password_hash text        NOT NULL,
    role          text        NOT NULL CHECK (role IN ('admin', 'operator', 'worker', 'viewer')),
    active        boolean     NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_username ON users (lower(username));

-- Refresh tokens rotate on every use; a reused (already rotated) token revokes its whole family.
CREATE TABLE refresh_tokens (
    id          uuid PRIMARY KEY,
    family_id   uuid        NOT NULL,
    user_id     uuid        NOT NULL REFERENCES users (id),
    token_hash  text        NOT NULL UNIQUE,
    issued_at   timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    revoked_at  timestamptz
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

-- Access tokens revoked before they expire (logout); rows are useless after expires_at.
CREATE TABLE revoked_access_tokens (
    jti        uuid PRIMARY KEY,
    expires_at timestamptz NOT NULL
);

CREATE TABLE api_keys (
    id           uuid PRIMARY KEY,
    name         text        NOT NULL,
    prefix       text        NOT NULL,
    key_hash     text        NOT NULL UNIQUE,
    scopes       text[]      NOT NULL,
    created_by   uuid        NOT NULL REFERENCES users (id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    revoked_at   timestamptz,
    last_used_at timestamptz,
    rotated_from uuid REFERENCES api_keys (id)
);

-- The audit projection: one row per AuditRecorded event.
CREATE TABLE audit_log (
    event_id    uuid PRIMARY KEY,
    occurred_at timestamptz NOT NULL,
    actor       text,
    role        text,
    action      text        NOT NULL,
    subject     text,
    outcome     text        NOT NULL,
    status      integer,
    client      text,
    request_id  text,
    details     jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_time ON audit_log (occurred_at DESC, event_id DESC);
CREATE INDEX audit_log_actor ON audit_log (actor, occurred_at DESC);
