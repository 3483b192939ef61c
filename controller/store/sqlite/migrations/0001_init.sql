-- Names are stored once and referred to by small integers, so that a raw
-- result row stays a few dozen bytes.
CREATE TABLE checks (
  id   INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE
);
CREATE TABLE regions (
  id   INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE
);
CREATE TABLE probes (
  id   INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE
);
CREATE TABLE config_versions (
  id   INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE
);
-- One row per check run; the natural key check + region + scheduled slot makes
-- ingest idempotent without a stored random id. Times are Unix milliseconds,
-- durations microseconds; started is stored relative to scheduled.
CREATE TABLE results (
  check_id    INTEGER NOT NULL,
  region_id   INTEGER NOT NULL,
  scheduled   INTEGER NOT NULL,
  probe_id    INTEGER NOT NULL,
  config_id   INTEGER NOT NULL,
  outcome     INTEGER NOT NULL,
  error_class INTEGER NOT NULL,
  http_status INTEGER NOT NULL,
  duration_us INTEGER NOT NULL,
  started_lag INTEGER NOT NULL,
  dns_us      INTEGER NOT NULL,
  connect_us  INTEGER NOT NULL,
  tls_us      INTEGER NOT NULL,
  ttfb_us     INTEGER NOT NULL,
  transfer_us INTEGER NOT NULL,
  bytes       INTEGER NOT NULL,
  message     TEXT,
  PRIMARY KEY (check_id, region_id, scheduled)
) WITHOUT ROWID;
