-- Request-based SLIs: an events SLO's good and valid events per minute.
CREATE TABLE slo_events (
  slo_id TEXT NOT NULL,
  minute INTEGER NOT NULL,
  good   INTEGER NOT NULL,
  valid  INTEGER NOT NULL,
  PRIMARY KEY (slo_id, minute)
) WITHOUT ROWID;
