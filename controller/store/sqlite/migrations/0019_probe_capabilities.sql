-- What each probe can run besides the network kinds (comma-separated:
-- "browser" for a probe started with a browser).
ALTER TABLE probe_heartbeats ADD COLUMN capabilities TEXT NOT NULL DEFAULT '';
