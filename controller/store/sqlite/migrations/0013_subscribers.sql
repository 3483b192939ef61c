-- Subscribers of the status page: an email address (double opt-in) or a
-- webhook URL (verified by a signed test call), to every component or to
-- those listed (a JSON array of ids). The token is the secret of their
-- confirmation and unsubscribe links; confirmed_at is NULL until then.
CREATE TABLE subscribers (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  kind         TEXT    NOT NULL,
  address      TEXT    NOT NULL,
  components   TEXT    NOT NULL,
  token        TEXT    NOT NULL UNIQUE,
  created_at   INTEGER NOT NULL,
  confirmed_at INTEGER,
  UNIQUE (kind, address)
);
