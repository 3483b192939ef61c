-- The newest incident of every alert key, as JSON; open alerts are the ones
-- not resolved.
CREATE TABLE alerts (
  key        TEXT PRIMARY KEY,
  state      TEXT NOT NULL,
  body       TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX alerts_state ON alerts (state);

-- The notification outbox: written in the same transaction as the alert
-- state that causes it, delivered by the dispatcher in id order per alert
-- and notifier.
CREATE TABLE outbox (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  alert_key    TEXT NOT NULL,
  notifier     TEXT NOT NULL,
  message      TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  next_at      INTEGER NOT NULL,
  attempts     INTEGER NOT NULL DEFAULT 0,
  delivered_at INTEGER,
  failed_at    INTEGER,
  last_error   TEXT
);
CREATE INDEX outbox_pending ON outbox (next_at) WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX outbox_alert ON outbox (alert_key, id);

CREATE TABLE attempts (
  outbox_id INTEGER NOT NULL,
  at        INTEGER NOT NULL,
  outcome   TEXT NOT NULL,
  error     TEXT
);
CREATE INDEX attempts_outbox ON attempts (outbox_id);
