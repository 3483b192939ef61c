-- Request-based SLIs: an events SLO's good and valid events per minute.
CREATE TABLE slo_events (
  slo_id TEXT NOT NULL,
  minute BIGINT NOT NULL,
  good   BIGINT NOT NULL,
  valid  BIGINT NOT NULL,
  PRIMARY KEY (slo_id, minute)
);
