-- When each region's probes were heard from: spans of heartbeats no further
-- apart than the unhealthy threshold (Unix milliseconds), so that a result
-- is judged by the health of its region when it was scheduled, however late
-- it arrives. Replicas write the spans of the heartbeats they receive; a
-- region was healthy when any span says so. Seeded from the results already
-- stored, which were judged as coming from healthy regions.
CREATE TABLE region_health (
  region   text NOT NULL,
  start_ms bigint NOT NULL,
  end_ms   bigint NOT NULL,
  PRIMARY KEY (region, start_ms)
);
INSERT INTO region_health (region, start_ms, end_ms)
  SELECT g.name, MIN(r.scheduled), MAX(r.scheduled) FROM results r JOIN regions g ON g.id = r.region_id GROUP BY g.name;
