-- Status page incidents: opened from confirmed outages, updated by SREs.
CREATE TABLE incidents (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  alert_key   TEXT NOT NULL,
  alert_seq   INTEGER NOT NULL,
  component   TEXT NOT NULL,
  title       TEXT NOT NULL,
  status      TEXT NOT NULL,
  impact      TEXT NOT NULL,
  started_at  INTEGER NOT NULL,
  resolved_at INTEGER,
  UNIQUE (alert_key, alert_seq)
);
CREATE TABLE incident_updates (
  incident_id INTEGER NOT NULL,
  at          INTEGER NOT NULL,
  status      TEXT NOT NULL,
  body        TEXT NOT NULL,
  author      TEXT NOT NULL
);
CREATE INDEX incident_updates_incident ON incident_updates (incident_id, at);
