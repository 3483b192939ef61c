-- Events of event rules: what systems told nines, one row per rule and key.
CREATE TABLE alert_events (
  rule_id     TEXT NOT NULL,
  key         TEXT NOT NULL,
  summary     TEXT NOT NULL,
  link        TEXT NOT NULL,
  details     TEXT NOT NULL,
  count       BIGINT NOT NULL,
  first_at    BIGINT NOT NULL,
  last_at     BIGINT NOT NULL,
  resolved_at BIGINT,
  PRIMARY KEY (rule_id, key)
);
CREATE INDEX alert_events_last ON alert_events (last_at);
