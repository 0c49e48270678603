-- Images (issue 13): one row per content (the same bytes are one image), every upload of it, near-duplicate links,
-- camera image health. Applied by projections/images/projection.py; the fold is commutative where topics meet (an
-- analysis may be applied before its upload during a replay).
CREATE TABLE images (
    image_id          uuid PRIMARY KEY,
    sha256            text        NOT NULL,
    size_bytes        bigint,
    format            text,
    uploads           integer     NOT NULL DEFAULT 0,
    first_uploaded_at timestamptz,  -- NULL only while the analysis is applied before the upload (replay)
    last_uploaded_at  timestamptz,
    status            text        NOT NULL DEFAULT 'pending',  -- pending, analysed, rejected
    outcome_event_id  uuid,  -- the analysis that decided the status (the first one wins)
    analysed_at       timestamptz,
    reject_code       text,
    reject_reason     text,
    width             integer,  -- as displayed
    height            integer,
    orientation       smallint,  -- as stored
    taken_at          timestamptz,  -- when the camera wrote its offset
    taken_local       timestamp,  -- DateTimeOriginal as written (camera-local wall time)
    taken_offset_min  integer,
    taken_sort        timestamptz,  -- taken_at, or taken_local read as UTC: what range filters compare
    make              text,
    model             text,
    lens_model        text,
    exposure_time     text,
    exposure_time_s   double precision,
    f_number          double precision,
    iso               integer,
    focal_length_mm   double precision,
    gps_latitude      double precision,
    gps_longitude     double precision,
    gps_altitude_m    double precision,
    has_body_serial   boolean,
    phash             text,
    phash_bits        bigint,  -- the 64 hash bits, for Hamming distances in SQL
    brightness        double precision,
    contrast          double precision,
    sharpness         double precision,
    trailing_bytes    bigint,
    notes             jsonb,
    thumb_128         text,  -- sha256 of the WebP in the file store
    thumb_512         text,
    public_sha256     text  -- the original without GPS and serials; NULL: only operators get the original
);
CREATE INDEX images_listed ON images (first_uploaded_at DESC, image_id DESC);
CREATE INDEX images_status ON images (status, first_uploaded_at);
CREATE INDEX images_analysed ON images (analysed_at) WHERE analysed_at IS NOT NULL;
CREATE INDEX images_camera ON images (make, model);
CREATE INDEX images_taken ON images (taken_sort);
CREATE INDEX images_place ON images (gps_latitude, gps_longitude) WHERE gps_latitude IS NOT NULL;

CREATE TABLE image_uploads (
    upload_id     uuid PRIMARY KEY,  -- the ImageUploaded event id
    image_id      uuid        NOT NULL,
    subject_type  text        NOT NULL,
    subject_id    text,
    caption       text,
    original_name text        NOT NULL,
    content_type  text        NOT NULL,
    via           text        NOT NULL,  -- upload, camera_snapshot
    uploaded_at   timestamptz NOT NULL,
    uploaded_by   text
);
CREATE INDEX image_uploads_image ON image_uploads (image_id, uploaded_at);
CREATE INDEX image_uploads_subject ON image_uploads (subject_type, subject_id, uploaded_at);

-- Near-duplicates (perceptual hashes a few bits apart), both directions.
CREATE TABLE image_duplicates (
    image_id     uuid     NOT NULL,
    duplicate_id uuid     NOT NULL,
    distance     smallint NOT NULL,
    PRIMARY KEY (image_id, duplicate_id)
);

-- Camera image health: per camera and kind, degraded or not since when; the last snapshot (or failed grab).
CREATE TABLE camera_image_health (
    camera_id text        NOT NULL,
    kind      text        NOT NULL,
    degraded  boolean     NOT NULL,
    since     timestamptz NOT NULL,
    detail    text,
    PRIMARY KEY (camera_id, kind)
);
CREATE TABLE camera_snapshots (
    camera_id text PRIMARY KEY,
    at        timestamptz NOT NULL,
    image_id  uuid,  -- NULL: the grab failed
    error     text
);

-- Cameras may grab a snapshot every N seconds (the pollers do), fed through the image pipeline.
ALTER TABLE cameras ADD COLUMN snapshot_interval_s integer;
