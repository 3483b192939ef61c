-- Signed-in users of the SRE view, by a digest of the session id (a copy of
-- the database gives no live session); expires in Unix milliseconds.
CREATE TABLE sessions (
  key      TEXT PRIMARY KEY,
  username TEXT NOT NULL,
  csrf     TEXT NOT NULL,
  expires  INTEGER NOT NULL
);
