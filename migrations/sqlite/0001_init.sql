-- linewise schema (SQLite). Instants are whole seconds since the Unix epoch;
-- JSON objects are stored as text.

CREATE TABLE phone_numbers (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    number        TEXT    NOT NULL UNIQUE,
    friendly_name TEXT,
    type          TEXT    NOT NULL DEFAULT 'exophone',
    is_active     BOOLEAN NOT NULL DEFAULT TRUE,
    is_primary    BOOLEAN NOT NULL DEFAULT FALSE,
    capabilities  TEXT    NOT NULL DEFAULT '{}',
    metadata      TEXT    NOT NULL DEFAULT '{}',
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL
);
CREATE INDEX phone_numbers_number_idx ON phone_numbers (number);
CREATE INDEX phone_numbers_is_active_idx ON phone_numbers (is_active);
CREATE INDEX phone_numbers_is_primary_idx ON phone_numbers (is_primary);
-- At most one primary line, whatever the application does.
CREATE UNIQUE INDEX phone_numbers_one_primary ON phone_numbers (is_primary) WHERE is_primary = TRUE;

CREATE TABLE phone_number_groups (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL UNIQUE,
    description TEXT,
    created_at  BIGINT NOT NULL
);

CREATE TABLE phone_number_group_members (
    group_id        BIGINT NOT NULL REFERENCES phone_number_groups (id) ON DELETE CASCADE,
    phone_number_id BIGINT NOT NULL REFERENCES phone_numbers (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, phone_number_id)
);

CREATE TABLE flows (
    id   TEXT PRIMARY KEY,
    name TEXT NOT NULL
);

CREATE TABLE calls (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    provider         TEXT   NOT NULL,
    provider_call_id TEXT   NOT NULL,
    phone_number     TEXT   NOT NULL,
    other_party      TEXT,
    direction        TEXT   NOT NULL,
    status           TEXT   NOT NULL,
    started_at       BIGINT NOT NULL,
    ended_at         BIGINT,
    duration_seconds BIGINT NOT NULL DEFAULT 0,
    flow_id          TEXT REFERENCES flows (id),
    recording_url    TEXT,
    raw              TEXT   NOT NULL DEFAULT '{}',
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    UNIQUE (provider, provider_call_id)
);
CREATE INDEX calls_phone_number_started_at_idx ON calls (phone_number, started_at);
CREATE INDEX calls_started_at_idx ON calls (started_at);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    email         TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL,
    is_active     BOOLEAN NOT NULL DEFAULT TRUE,
    created_at    BIGINT  NOT NULL
);

CREATE TABLE user_phone_numbers (
    user_id         BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    phone_number_id BIGINT NOT NULL REFERENCES phone_numbers (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, phone_number_id)
);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
