-- Caller numbers are looked up in memory (src/store/callers.rs): each
-- process holds every committed caller and reads the rows past the last id
-- it holds. The table becomes a log in id order: a new caller is appended
-- (the next rowid) instead of inserted at a random place in a B-tree keyed
-- by number, which an import of many new callers rewrote nearly whole in
-- every batch. Numbers stay unique: SQLite has one writer at a time, and it
-- reads the log to its end before it appends.
CREATE TABLE callers_log (
    id     INTEGER PRIMARY KEY,
    number TEXT    NOT NULL
);
INSERT INTO callers_log (id, number) SELECT id, number FROM callers ORDER BY id;
DROP TABLE callers;
ALTER TABLE callers_log RENAME TO callers;
-- Ids are the next after the log's last.
DROP TABLE caller_seq;
