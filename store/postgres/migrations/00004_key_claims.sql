-- Cross-tenant legacy key conflicts (issue 22 §1): when a tenant imports a
-- key whose hash another tenant already holds, each tenant's claim is a
-- legacy_keys row of its own (status 'conflicted') and a member here, until
-- an authz:admin picks the winner.

-- +goose Up
CREATE TABLE key_claims (
    conflict_id  TEXT NOT NULL,
    key_id       TEXT NOT NULL,
    tenant_id    TEXT NOT NULL,
    holder       boolean NOT NULL,
    proof        TEXT NOT NULL,
    prior_status TEXT NOT NULL,
    claimed_at   timestamptz NOT NULL,
    claimed_by   TEXT NOT NULL,
    resolved_at  timestamptz,
    resolved_by  TEXT NOT NULL,
    outcome      TEXT NOT NULL,
    PRIMARY KEY (conflict_id, key_id)
);
CREATE INDEX key_claims_open ON key_claims (key_id) WHERE resolved_at IS NULL;

-- +goose Down
DROP TABLE key_claims;
