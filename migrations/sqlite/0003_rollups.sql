-- Pre-aggregated call figures, kept in the same transaction as every write
-- to `calls` (src/store/rollup.rs). Level 0 buckets are 15-minute slots
-- (started_at / 900), level 1 buckets are UTC days (started_at / 86400):
-- every timezone's hour and day boundaries fall on a slot edge.
CREATE TABLE callers (
    id     INTEGER PRIMARY KEY,
    number TEXT NOT NULL UNIQUE
);

CREATE TABLE rollups (
    level        BIGINT NOT NULL,
    bucket       BIGINT NOT NULL,
    phone_number TEXT   NOT NULL,
    calls        BIGINT NOT NULL,
    answered     BIGINT NOT NULL,
    missed       BIGINT NOT NULL,
    abandoned    BIGINT NOT NULL,
    failed       BIGINT NOT NULL,
    talk_seconds BIGINT NOT NULL,
    -- roaring bitmap of callers.id
    callers      BLOB   NOT NULL,
    -- the same counts per flow, status and direction (rollup.rs encodes it)
    breakdown    BLOB   NOT NULL,
    PRIMARY KEY (level, bucket, phone_number)
) WITHOUT ROWID;

-- Ringing, queued and in-progress calls, for the dashboard's live count.
CREATE INDEX calls_live_idx ON calls (started_at)
    WHERE status IN ('ringing', 'queued', 'in-progress');
