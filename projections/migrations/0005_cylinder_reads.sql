-- Where each scan sits in its topic, so a read given a consistency token can wait for the scans it names to be
-- decided (their derived events projected), not only recorded.
ALTER TABLE cylinder_scans ADD COLUMN src_partition integer, ADD COLUMN src_offset bigint;
CREATE INDEX cylinder_scans_position ON cylinder_scans (src_partition, src_offset);
-- A scan's decision is found by the handheld's id (repeats of a scan id share its decision).
CREATE INDEX cylinder_history_scan ON cylinder_history (scan_id, worker) WHERE scan_id IS NOT NULL;
