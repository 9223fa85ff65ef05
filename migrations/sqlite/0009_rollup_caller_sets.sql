-- Hour rows keep no caller set any more: an hour's callers are read from its
-- four slots (src/store/rollup.rs, keeps_callers).
UPDATE rollups SET callers = x'' WHERE level = 2;

-- Large caller sets are kept apart from their row, in an ordinary rowid
-- table (src/store/rollup.rs, INLINE_CALLERS): a WITHOUT ROWID row spills
-- everything past ~1 000 bytes to overflow pages that are half empty on
-- average. `callers_ref` names the set when it is kept apart.
ALTER TABLE rollups ADD COLUMN callers_ref INTEGER;
CREATE TABLE rollup_sets (
    id      INTEGER PRIMARY KEY,
    callers BLOB    NOT NULL
);

-- Sets already longer than INLINE_CALLERS (700 bytes) move apart now, so a
-- database written before this shrinks at once, not as its rows are next
-- written (old days' rows never are).
CREATE TEMP TABLE moved AS
    SELECT level, phone_number, bucket,
           ROW_NUMBER() OVER (ORDER BY level, phone_number, bucket) AS id
    FROM rollups WHERE length(callers) > 700;
INSERT INTO rollup_sets (id, callers)
    SELECT m.id, r.callers FROM moved m JOIN rollups r USING (level, phone_number, bucket);
UPDATE rollups SET callers_ref = m.id, callers = x''
    FROM moved m
    WHERE rollups.level = m.level AND rollups.phone_number = m.phone_number AND rollups.bucket = m.bucket;
DROP TABLE moved;
