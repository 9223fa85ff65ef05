-- Signed-out sessions: a token whose SHA-256 is here is refused until it
-- expires; rows past their expiry are removed at the next sign-out.
CREATE TABLE revoked_tokens (
    fingerprint TEXT   PRIMARY KEY,
    expires_at  BIGINT NOT NULL
);
