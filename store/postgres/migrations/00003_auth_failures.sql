-- Failed-authentication counters shared by replicas (ratelimit.Lockout,
-- store.AuthFailure): one row per opaque counter key. Only failures write.
-- expires_at is when the row means nothing any more (its window and its
-- lock are over), for PurgeExpired; locked_at finds the locks a replica
-- has not seen yet.

-- +goose Up
CREATE TABLE auth_failures (
    key          text PRIMARY KEY,
    count        integer NOT NULL,
    window_start timestamptz NOT NULL,
    locked_at    timestamptz,
    locked_until timestamptz,
    expires_at   timestamptz NOT NULL
);
CREATE INDEX auth_failures_locked ON auth_failures (locked_at) WHERE locked_at IS NOT NULL;
CREATE INDEX auth_failures_expiry ON auth_failures (expires_at);

-- +goose Down
DROP TABLE auth_failures;
