-- Hardening (issue 7).
--
-- A user's token version is carried in every token and session issued to
-- them; bumping it (a password change, a deactivation) voids them all.
ALTER TABLE users ADD COLUMN token_version BIGINT NOT NULL DEFAULT 0;

-- Who changed which line, group, user or ingest key, when, and how. No
-- foreign keys: an entry outlives its object and its actor. The JSON
-- snapshots never hold password or key hashes.
CREATE TABLE audit_log (
    id          BIGSERIAL PRIMARY KEY,
    at          BIGINT NOT NULL,
    actor_id    BIGINT,
    actor_email TEXT,
    action      TEXT   NOT NULL,
    object_type TEXT   NOT NULL,
    object_id   BIGINT,
    before_json TEXT,
    after_json  TEXT
);
CREATE INDEX audit_log_object_idx ON audit_log (object_type, object_id, id);
