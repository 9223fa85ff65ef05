-- Hour rows keep no caller set any more: an hour's callers are read from its
-- four slots (src/store/rollup.rs, keeps_callers).
UPDATE rollups SET callers = ''::bytea WHERE level = 2;

-- The same columns as SQLite's, so both engines read rollups with the same
-- statements. PostgreSQL moves large values out of line itself (TOAST), so
-- it keeps every set inline and `rollup_sets` stays empty here.
ALTER TABLE rollups ADD COLUMN callers_ref BIGINT;
CREATE TABLE rollup_sets (
    id      BIGINT PRIMARY KEY,
    callers BYTEA  NOT NULL
);
