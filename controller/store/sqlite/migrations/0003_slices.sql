-- One verdict per check per minute (minute = Unix seconds / 60): 0 unknown,
-- 1 up, 2 degraded, 3 down, 4 maintenance. Kept far longer than raw results.
CREATE TABLE slices (
  check_id INTEGER NOT NULL,
  minute   INTEGER NOT NULL,
  status   INTEGER NOT NULL,
  PRIMARY KEY (check_id, minute)
) WITHOUT ROWID;

-- Minutes whose slices must be recomputed: written in the same transaction as
-- the results, so a crash between ingest and slicing loses nothing. seq
-- grows with every mark; a slicer deletes only the marks it has read.
CREATE TABLE dirty (
  check_id INTEGER NOT NULL,
  minute   INTEGER NOT NULL,
  seq      INTEGER NOT NULL,
  PRIMARY KEY (check_id, minute)
) WITHOUT ROWID;
