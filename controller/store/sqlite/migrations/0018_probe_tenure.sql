-- When a controller first heard from each probe in its region: among the
-- probes that no token names, the longest-registered runs the checks.
ALTER TABLE probe_heartbeats ADD COLUMN first_seen INTEGER NOT NULL DEFAULT 0;
UPDATE probe_heartbeats SET first_seen = last_seen;
