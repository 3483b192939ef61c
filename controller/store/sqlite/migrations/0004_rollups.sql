-- Minutes of each verdict per check per hour (span 60) and per day (span
-- 1440), bucket being the first minute; kept after their minute slices are
-- gone, so long reports never scan raw rows or minutes.
CREATE TABLE rollups (
  check_id    INTEGER NOT NULL,
  span        INTEGER NOT NULL,
  bucket      INTEGER NOT NULL,
  up          INTEGER NOT NULL,
  degraded    INTEGER NOT NULL,
  down        INTEGER NOT NULL,
  maintenance INTEGER NOT NULL,
  PRIMARY KEY (check_id, span, bucket)
) WITHOUT ROWID;
