-- Web-console sign-in links and sessions (issue 12), shared by replicas.
-- Only the SHA-256 of each secret is kept.

-- +goose Up
CREATE TABLE console_sessions (
    hash         TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    principal_id TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    created_by   TEXT NOT NULL
);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);

-- +goose Down
DROP TABLE console_sessions;
