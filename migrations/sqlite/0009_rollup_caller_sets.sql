-- Hour rows keep no caller set any more: an hour's callers are read from its
-- four slots (src/store/rollup.rs, keeps_callers).
UPDATE rollups SET callers = x'' WHERE level = 2;

-- Large caller sets are kept apart from their row, in an ordinary rowid
-- table (src/store/rollup.rs, INLINE_CALLERS): a WITHOUT ROWID row spills
-- everything past ~1 000 bytes to overflow pages that are half empty on
-- average. Rows written before this keep their sets inline until next
-- written; `callers_ref` names the set when it is kept apart.
ALTER TABLE rollups ADD COLUMN callers_ref INTEGER;
CREATE TABLE rollup_sets (
    id      INTEGER PRIMARY KEY,
    callers BLOB    NOT NULL
);
