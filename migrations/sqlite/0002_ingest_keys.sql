-- Keys that let a provider or a script send calls without a user's token.
-- Only a SHA-256 of each key is kept; the key itself is shown once.
CREATE TABLE ingest_keys (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT   NOT NULL,
    key_hash   TEXT   NOT NULL UNIQUE,
    prefix     TEXT   NOT NULL,
    created_by BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
