-- LLDP neighbours (TopologyLinkObserved on devices.samples): one row per (device, local port), the newest sighting.
-- GET /api/topology leaves out links not seen for OPSLEDGER_TOPOLOGY_STALE_INTERVALS of the device's poll interval.
CREATE TABLE topology_links (
    device_id         text        NOT NULL,
    local_port        text        NOT NULL,
    remote_chassis_id text        NOT NULL,
    remote_port       text        NOT NULL,
    remote_sys_name   text        NOT NULL,
    first_seen_at     timestamptz NOT NULL,  -- of this neighbour on this port
    last_seen_at      timestamptz NOT NULL,
    PRIMARY KEY (device_id, local_port)
);
CREATE INDEX topology_links_seen ON topology_links (last_seen_at);
