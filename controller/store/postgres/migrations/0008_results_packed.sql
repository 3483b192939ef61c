-- Closed days of raw results, packed: one row per check, region and day
-- (UTC, Unix ms of its start) holding that day's results, varint-encoded
-- and zstd-compressed (see packed.go). A row per result costs PostgreSQL
-- some 60 bytes of tuple header, item pointer and index entry before any
-- data; a packed day of 1,440 results costs that once.
CREATE TABLE results_packed (
  check_id  integer NOT NULL,
  region_id integer NOT NULL,
  day       bigint  NOT NULL,
  n         integer NOT NULL,
  data      bytea   NOT NULL,
  PRIMARY KEY (check_id, region_id, day)
);
-- Already compressed: stored out of line as it is.
ALTER TABLE results_packed ALTER COLUMN data SET STORAGE EXTERNAL;
