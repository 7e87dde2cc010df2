-- What the offboarding report and the alert detectors keep (package
-- alerts): hourly use counts per credential (uses in the last 24 hours),
-- the network prefixes each credential was used from (alert.new_network
-- survives a restart and is shared by replicas), and alert marks (one
-- replica raises a given alert, once per window).

-- +goose Up
CREATE TABLE credential_uses_hourly (
    credential TEXT NOT NULL,
    hour       timestamptz NOT NULL,
    uses       bigint NOT NULL,
    PRIMARY KEY (credential, hour)
);
CREATE INDEX credential_uses_hourly_hour ON credential_uses_hourly (hour);

CREATE TABLE credential_networks (
    credential TEXT NOT NULL,
    prefix     TEXT NOT NULL,
    first_seen timestamptz NOT NULL,
    last_seen  timestamptz NOT NULL,
    PRIMARY KEY (credential, prefix)
);

CREATE TABLE alert_marks (
    key        TEXT PRIMARY KEY,
    count      bigint NOT NULL,
    fired_at   timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX alert_marks_expiry ON alert_marks (expires_at);

-- +goose Down
DROP TABLE alert_marks;
DROP TABLE credential_networks;
DROP TABLE credential_uses_hourly;
