-- The last heartbeat of every probe agent (times in Unix milliseconds), so
-- that a restarted controller, or another replica, knows the probes at once.
CREATE TABLE probe_heartbeats (
  probe       TEXT PRIMARY KEY,
  region      TEXT NOT NULL,
  version     TEXT NOT NULL,
  started_at  INTEGER NOT NULL,
  last_seen   INTEGER NOT NULL,
  spool_depth INTEGER NOT NULL,
  skew_ms     INTEGER NOT NULL
);
