-- Events of event rules: what systems told nines, one row per rule and key.
CREATE TABLE alert_events (
  rule_id     TEXT NOT NULL,
  key         TEXT NOT NULL,
  summary     TEXT NOT NULL,
  link        TEXT NOT NULL,
  details     TEXT NOT NULL,
  count       INTEGER NOT NULL,
  first_at    INTEGER NOT NULL,
  last_at     INTEGER NOT NULL,
  resolved_at INTEGER,
  PRIMARY KEY (rule_id, key)
) WITHOUT ROWID;
CREATE INDEX alert_events_last ON alert_events (last_at);
