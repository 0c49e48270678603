-- Who uploaded each stored file: uploads are content-addressed, so several people may upload the same bytes, and a
-- worker may download what they uploaded (or what hangs on their own readings).
CREATE TABLE file_uploaders (
    sha256      text        NOT NULL,
    uploaded_by text        NOT NULL,
    uploaded_at timestamptz NOT NULL,
    PRIMARY KEY (sha256, uploaded_by)
);
INSERT INTO file_uploaders (sha256, uploaded_by, uploaded_at)
    SELECT sha256, uploaded_by, uploaded_at FROM files WHERE uploaded_by IS NOT NULL;
CREATE INDEX ingress_readings_attachments ON ingress_readings USING gin (attachments);

-- A session is one sign-in (its refresh tokens are one family): listed and revoked by its user, and ended at an
-- absolute time whatever the refreshes.
CREATE TABLE sessions (
    id           uuid PRIMARY KEY,
    user_id      uuid        NOT NULL REFERENCES users (id),
    started_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    last_used_at timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz,
    client       text,
    user_agent   text,
    method       text        NOT NULL DEFAULT 'password'
);
CREATE INDEX sessions_user ON sessions (user_id, started_at DESC);

-- One-time password reset tokens issued by an admin (stored as sha256, like refresh tokens).
CREATE TABLE password_resets (
    token_hash text PRIMARY KEY,
    user_id    uuid        NOT NULL REFERENCES users (id),
    created_by uuid        NOT NULL REFERENCES users (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);

-- External (OpenID Connect) accounts: the key is (issuer, subject), never a username or an e-mail address.
CREATE TABLE oidc_identities (
    issuer        text        NOT NULL,
    subject       text        NOT NULL,
    user_id       uuid        NOT NULL REFERENCES users (id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_login_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (issuer, subject)
);
-- Logins in progress: taken once (DELETE ... RETURNING), so a state works at most once across API processes.
CREATE TABLE oidc_pending (
    state_hash    text PRIMARY KEY,
    nonce         text        NOT NULL,
    code_verifier text        NOT NULL,
    return_to     text        NOT NULL,
    created_at    double precision NOT NULL,
    expires_at    double precision NOT NULL
);
-- One-time, short-lived codes the browser exchanges for the API's tokens after an external login.
CREATE TABLE oidc_login_codes (
    code_hash  text PRIMARY KEY,
    user_id    uuid        NOT NULL REFERENCES users (id),
    expires_at timestamptz NOT NULL
);
