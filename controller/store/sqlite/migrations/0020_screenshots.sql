-- Pictures failed browser check runs took, the newest few of each check.
CREATE TABLE screenshots (
  check_id     TEXT NOT NULL,
  region       TEXT NOT NULL,
  scheduled_ms INTEGER NOT NULL,
  message      TEXT NOT NULL,
  image        BLOB NOT NULL,
  PRIMARY KEY (check_id, scheduled_ms, region)
);
