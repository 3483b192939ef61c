-- The edge column holds what a result's kind learned besides its outcome,
-- as JSON: a CDN edge, a DNS answer (rcode, answers), a flow's level and
-- step latencies. NULL for kinds with nothing to add.
ALTER TABLE results RENAME COLUMN edge TO facts;
