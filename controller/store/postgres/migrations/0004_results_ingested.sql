-- When each result was stored (server clock, Unix milliseconds), with a BRIN
-- index: rows arrive in that order, so the index stays a few pages and a
-- replica reads what other replicas ingested since its last look without
-- touching the rest of the table.
ALTER TABLE results ADD COLUMN ingested_at bigint NOT NULL DEFAULT 0;
ALTER TABLE results ALTER COLUMN ingested_at SET DEFAULT (extract(epoch from statement_timestamp()) * 1000)::bigint;
CREATE INDEX results_ingested ON results USING brin (ingested_at);
