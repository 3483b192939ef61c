-- Raw results partitioned by day of their scheduled time, so that retention
-- drops whole days instead of deleting row by row (no bloat, no vacuum
-- debt). Days are named results_dYYYYMMDD and made ahead by the leader
-- (Store.MaintainPartitions); what falls outside them lands in
-- results_default, which retention prunes row by row.
ALTER TABLE results RENAME TO results_unpartitioned;
ALTER INDEX results_pkey RENAME TO results_unpartitioned_pkey;
ALTER INDEX results_ingested RENAME TO results_unpartitioned_ingested;
CREATE TABLE results (
  check_id    integer  NOT NULL,
  region_id   integer  NOT NULL,
  scheduled   bigint   NOT NULL,
  probe_id    integer  NOT NULL,
  config_id   integer  NOT NULL,
  outcome     smallint NOT NULL,
  error_class smallint NOT NULL,
  http_status smallint NOT NULL,
  duration_us bigint   NOT NULL,
  started_lag integer  NOT NULL,
  dns_us      bigint   NOT NULL,
  connect_us  bigint   NOT NULL,
  tls_us      bigint   NOT NULL,
  ttfb_us     bigint   NOT NULL,
  transfer_us bigint   NOT NULL,
  bytes       bigint   NOT NULL,
  message     text,
  cert_expiry bigint,
  edge        text,
  ingested_at bigint   NOT NULL DEFAULT (extract(epoch from statement_timestamp()) * 1000)::bigint,
  PRIMARY KEY (check_id, region_id, scheduled)
) PARTITION BY RANGE (scheduled);
CREATE INDEX results_ingested ON results USING brin (ingested_at);
CREATE TABLE results_default PARTITION OF results DEFAULT;
INSERT INTO results SELECT * FROM results_unpartitioned;
DROP TABLE results_unpartitioned;
