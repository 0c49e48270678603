-- Device and camera secrets (SNMP communities and keys, camera logins), Fernet-encrypted; written by the API in the
-- request that emits the registry event naming the version; read by the pollers. Not a projection: no event holds them.
CREATE TABLE device_secrets (
    owner_id   text        NOT NULL,  -- a device or camera id
    version    integer     NOT NULL,  -- the credentials_version a registry event names
    ciphertext bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (owner_id, version)
);

-- The registry (from devices.registry) and each device's status (from the poll facts on devices.samples).
CREATE TABLE devices (
    device_id            text PRIMARY KEY,
    version              integer     NOT NULL,
    spec                 jsonb       NOT NULL,  -- the DeviceSpec: no secrets, only credentials_version
    name                 text        NOT NULL,
    device_type          text        NOT NULL,
    management_ip        text        NOT NULL,
    site                 text,
    removed              boolean     NOT NULL DEFAULT false,
    registered_at        timestamptz NOT NULL,
    registered_by        text,
    updated_at           timestamptz NOT NULL,
    last_event_id        uuid        NOT NULL,
    status               text        NOT NULL DEFAULT 'unknown',  -- up, down, unknown (never polled)
    status_since         timestamptz,
    last_poll_at         timestamptz,
    last_poll_ms         double precision,
    last_response_ms     double precision,
    last_poll_partial    boolean,
    last_error           text,
    last_error_at        timestamptz,
    consecutive_failures integer     NOT NULL DEFAULT 0,
    sys_name             text,
    sys_descr            text,
    sys_object_id        text
);
CREATE INDEX devices_live ON devices (status, device_type, site) WHERE NOT removed;

-- Each interface as last sampled, with its last computed rates.
CREATE TABLE device_interfaces (
    device_id        text        NOT NULL,
    if_index         integer     NOT NULL,
    name             text,
    alias            text,
    oper_status      text        NOT NULL,
    admin_status     text        NOT NULL,
    speed_mbps       bigint,
    sampled_at       timestamptz NOT NULL,
    oper_changed_at  timestamptz,
    in_bps           double precision,
    out_bps          double precision,
    in_utilisation   double precision,
    out_utilisation  double precision,
    in_errors_per_s  double precision,
    out_errors_per_s double precision,
    rate_at          timestamptz,
    PRIMARY KEY (device_id, if_index)
);

-- Every computed rate interval (the rollups are computed from these: min, avg, max, p95 per 1 min, 5 min or 1 h).
CREATE TABLE interface_rates (
    device_id          text             NOT NULL,
    if_index           integer          NOT NULL,
    at                 timestamptz      NOT NULL,
    interval_s         double precision NOT NULL,
    in_bps             double precision NOT NULL,
    out_bps            double precision NOT NULL,
    in_utilisation     double precision,
    out_utilisation    double precision,
    in_errors_per_s    double precision,
    out_errors_per_s   double precision,
    in_discards_per_s  double precision,
    out_discards_per_s double precision,
    PRIMARY KEY (device_id, if_index, at)
);
CREATE INDEX interface_rates_at ON interface_rates (at);

-- Cameras: the registry and the last probe.
CREATE TABLE cameras (
    camera_id           text PRIMARY KEY,
    version             integer     NOT NULL,
    name                text        NOT NULL,
    url                 text        NOT NULL,  -- without credentials
    location            text,
    probe_interval_s    integer     NOT NULL,
    credentials_version integer,
    removed             boolean     NOT NULL DEFAULT false,
    registered_at       timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    last_event_id       uuid        NOT NULL,
    status              text        NOT NULL DEFAULT 'unknown',  -- up (answered 200 with video), down, unknown
    status_since        timestamptz,
    checked_at          timestamptz,
    reachable           boolean,
    status_code         integer,
    latency_ms          double precision,
    codec               text,
    width               integer,
    height              integer,
    error               text
);

-- Agents found by discovery sweeps, waiting for an admin to register them.
CREATE TABLE discovered_devices (
    sweep_id      text        NOT NULL,
    ip            text        NOT NULL,
    at            timestamptz NOT NULL,
    sys_name      text        NOT NULL,
    sys_descr     text        NOT NULL,
    sys_object_id text        NOT NULL,
    snmp_version  text        NOT NULL,
    PRIMARY KEY (sweep_id, ip)
);
