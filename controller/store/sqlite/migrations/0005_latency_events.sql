-- Occurrences for latency SLIs: per check and threshold, how many results
-- came in under the threshold (good) among all results, per minute (span 1,
-- pruned with the minute slices), hour (60) and day (1440).
CREATE TABLE latency_events (
  check_id     INTEGER NOT NULL,
  threshold_ms INTEGER NOT NULL,
  span         INTEGER NOT NULL,
  bucket       INTEGER NOT NULL,
  good         INTEGER NOT NULL,
  total        INTEGER NOT NULL,
  PRIMARY KEY (check_id, threshold_ms, span, bucket)
) WITHOUT ROWID;
