-- Signed-in users of the SRE view, shared by every replica, by a digest of
-- the session id; expires in Unix milliseconds.
CREATE TABLE sessions (
  key      text PRIMARY KEY,
  username text   NOT NULL,
  csrf     text   NOT NULL,
  expires  bigint NOT NULL
);
