-- Rollups gain UTC-hour rows (level 2) and a row per bucket for all lines
-- together (phone_number ''); see src/store/rollup.rs. The table is made
-- again, keyed line first so that one line's buckets (or all lines' row)
-- over a period are one contiguous range, and with the caller sets last:
-- SQLite stores a row's columns in order, and a large blob before the
-- breakdown made every breakdown read walk the blob's overflow pages.
-- The store rebuilds the rows from the raw calls when it next opens.
DROP TABLE rollups;
CREATE TABLE rollups (
    level        BIGINT NOT NULL,
    phone_number TEXT   NOT NULL,
    bucket       BIGINT NOT NULL,
    calls        BIGINT NOT NULL,
    answered     BIGINT NOT NULL,
    missed       BIGINT NOT NULL,
    abandoned    BIGINT NOT NULL,
    failed       BIGINT NOT NULL,
    talk_seconds BIGINT NOT NULL,
    -- the same counts per flow, status and direction (rollup.rs encodes it)
    breakdown    BLOB   NOT NULL,
    -- callers.id of the bucket's callers (rollup.rs encodes it)
    callers      BLOB   NOT NULL,
    PRIMARY KEY (level, phone_number, bucket)
) WITHOUT ROWID;
