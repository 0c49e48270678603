-- Every scan as it came from a handheld (accepted or not): worker activity, rejected scans.
CREATE TABLE cylinder_scans (
    event_id       uuid PRIMARY KEY,
    qr_code        text        NOT NULL,
    client_scan_id text        NOT NULL,
    action         text        NOT NULL,
    counterparty   text,
    location       text,
    scanned_at     timestamptz NOT NULL,
    worker         text        NOT NULL
);
CREATE INDEX cylinder_scans_worker ON cylinder_scans (worker, scanned_at);
CREATE INDEX cylinder_scans_code ON cylinder_scans (qr_code, scanned_at);

-- The state each cylinder's last accepted scan set.
CREATE TABLE cylinders (
    qr_code         text PRIMARY KEY,
    status          text        NOT NULL,
    holder          text,
    station         text,
    location        text,
    retest_due      date        NOT NULL,
    version         integer     NOT NULL,
    added_at        timestamptz NOT NULL,
    last_scan_at    timestamptz,
    last_scan_by    text,
    last_action     text,
    reprints        integer     NOT NULL DEFAULT 0,
    overdue         boolean     NOT NULL DEFAULT false,
    retest_due_soon boolean     NOT NULL DEFAULT false,
    last_rejection  text
);
CREATE INDEX cylinders_status ON cylinders (status);
CREATE INDEX cylinders_holder ON cylinders (holder) WHERE holder IS NOT NULL;

-- Every derived event of every cylinder, rejections included, in version order.
CREATE TABLE cylinder_history (
    event_id uuid PRIMARY KEY,
    qr_code  text        NOT NULL,
    version  integer     NOT NULL,
    type     text        NOT NULL,
    at       timestamptz NOT NULL,
    worker   text,
    scan_id  text,
    envelope json        NOT NULL
);
CREATE INDEX cylinder_history_code ON cylinder_history (qr_code, version);

-- One row per delivery: who sent it, who received it back, and when; balances as of any date come from here.
CREATE TABLE shipments (
    qr_code         text        NOT NULL,
    shipped_at      timestamptz NOT NULL,
    customer        text        NOT NULL,
    sent_by         text,
    returned_at     timestamptz,
    received_by     text,
    returned_by     text,  -- set when another customer than the recorded one returned it (custody corrected)
    PRIMARY KEY (qr_code, shipped_at)
);
CREATE INDEX shipments_customer ON shipments (customer, shipped_at);
CREATE INDEX shipments_open ON shipments (qr_code) WHERE returned_at IS NULL;
