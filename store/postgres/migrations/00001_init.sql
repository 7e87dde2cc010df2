-- The authz schema on PostgreSQL. Times are timestamptz (microsecond
-- precision, UTC); string lists and client secrets are jsonb; hashes, keys,
-- audit details and webhook payloads are bytea, stored byte for byte (the
-- audit hash chain covers the exact bytes, which jsonb would not keep).

-- +goose Up
CREATE TABLE generation (
    id    integer PRIMARY KEY CHECK (id = 1),
    value bigint NOT NULL
);
INSERT INTO generation (id, value) VALUES (1, 0);

CREATE TABLE tenants (
    id                text PRIMARY KEY,
    name              text NOT NULL UNIQUE,
    status            text NOT NULL,
    legacy_sunset_at  timestamptz,
    status_changed_at timestamptz NOT NULL,
    status_changed_by text NOT NULL,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL
);

CREATE TABLE principals (
    id                text PRIMARY KEY,
    tenant_id         text NOT NULL REFERENCES tenants (id),
    kind              text NOT NULL,
    display_name      text NOT NULL,
    external_id       text NOT NULL,
    status            text NOT NULL,
    status_changed_at timestamptz NOT NULL,
    status_changed_by text NOT NULL,
    deleted_at        timestamptz,
    deleted_by        text NOT NULL,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL
);
-- A deleted principal's tombstone keeps its external id without blocking a
-- new principal from taking it.
CREATE UNIQUE INDEX principals_external_id ON principals (tenant_id, external_id)
    WHERE status <> 'deleted' AND external_id <> '';
CREATE INDEX principals_tenant ON principals (tenant_id, id);

CREATE TABLE clients (
    id                  text PRIMARY KEY,
    tenant_id           text NOT NULL REFERENCES tenants (id),
    owner_id            text NOT NULL REFERENCES principals (id),
    name                text NOT NULL,
    auth_method         text NOT NULL,
    secrets             jsonb NOT NULL,
    jwks                bytea,
    jwks_uri            text NOT NULL,
    grant_types         jsonb NOT NULL,
    scopes              jsonb NOT NULL,
    audiences           jsonb NOT NULL,
    access_token_ttl_ns bigint NOT NULL,
    status              text NOT NULL,
    status_changed_at   timestamptz NOT NULL,
    status_changed_by   text NOT NULL,
    last_used_at        timestamptz,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL
);
CREATE INDEX clients_tenant ON clients (tenant_id, id);
CREATE INDEX clients_owner ON clients (owner_id);

CREATE TABLE roles (
    id          text PRIMARY KEY,
    tenant_id   text NOT NULL REFERENCES tenants (id),
    name        text NOT NULL,
    permissions jsonb NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE bindings (
    principal_id text NOT NULL REFERENCES principals (id),
    role_id      text NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    tenant_id    text NOT NULL,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (principal_id, role_id)
);
CREATE INDEX bindings_role ON bindings (role_id);
CREATE INDEX bindings_tenant ON bindings (tenant_id, principal_id, role_id);

-- No foreign keys: an imported key may name an owner or a tenant that does
-- not exist, and must still be stored so that it can be refused with the
-- right reason and repaired.
CREATE TABLE legacy_keys (
    id               text PRIMARY KEY,
    hash             bytea NOT NULL UNIQUE,
    tenant_id        text NOT NULL,
    owner_id         text NOT NULL,
    owner_ref        text NOT NULL,
    scopes           jsonb NOT NULL,
    label            text NOT NULL,
    environment      text NOT NULL,
    source           text NOT NULL,
    created_at       timestamptz NOT NULL,
    expires_at       timestamptz,
    status           text NOT NULL,
    revoked_at       timestamptz,
    revoked_by       text NOT NULL,
    revoked_reason   text NOT NULL,
    rotated_from     text NOT NULL,
    last_used_at     timestamptz,
    use_count        bigint NOT NULL,
    expiry_notice_at timestamptz,
    updated_at       timestamptz NOT NULL
);
CREATE INDEX legacy_keys_tenant ON legacy_keys (tenant_id, id);
CREATE INDEX legacy_keys_owner ON legacy_keys (owner_id, tenant_id);
CREATE INDEX legacy_keys_owner_ref ON legacy_keys (tenant_id, owner_ref);
CREATE INDEX legacy_keys_expiry ON legacy_keys (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE signing_keys (
    kid          text PRIMARY KEY,
    alg          text NOT NULL,
    state        text NOT NULL,
    private      bytea,
    public       bytea,
    created_at   timestamptz NOT NULL,
    published_at timestamptz NOT NULL,
    activated_at timestamptz,
    retired_at   timestamptz,
    remove_after timestamptz
);
CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys (state) WHERE state = 'current';

CREATE TABLE audit_events (
    seq         bigint PRIMARY KEY,
    id          text NOT NULL,
    time        timestamptz NOT NULL,
    actor       text NOT NULL,
    action      text NOT NULL,
    target      text NOT NULL,
    tenant_id   text NOT NULL,
    outcome     text NOT NULL,
    error_code  text NOT NULL,
    request_id  text NOT NULL,
    client_addr text NOT NULL,
    details     bytea,
    prev_hash   bytea,
    hash        bytea NOT NULL
);
CREATE INDEX audit_events_target ON audit_events (target, time);
CREATE INDEX audit_events_tenant ON audit_events (tenant_id, seq);
CREATE INDEX audit_events_time ON audit_events (time);

CREATE TABLE audit_head (
    id   bigint PRIMARY KEY CHECK (id = 1),
    seq  bigint NOT NULL,
    hash bytea
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, NULL);

CREATE TABLE revoked_tokens (
    jti        text PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
CREATE INDEX revoked_tokens_expiry ON revoked_tokens (expires_at);

CREATE TABLE assertion_jtis (
    client_id  text NOT NULL,
    jti        text NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (client_id, jti)
);
CREATE INDEX assertion_jtis_expiry ON assertion_jtis (expires_at);

CREATE TABLE webhooks (
    id              text PRIMARY KEY,
    event_type      text NOT NULL,
    payload         bytea,
    created_at      timestamptz NOT NULL,
    attempts        integer NOT NULL,
    next_attempt_at timestamptz NOT NULL,
    delivered_at    timestamptz,
    last_error      text NOT NULL
);
CREATE INDEX webhooks_due ON webhooks (next_attempt_at) WHERE delivered_at IS NULL;
CREATE INDEX webhooks_delivered ON webhooks (delivered_at) WHERE delivered_at IS NOT NULL;

CREATE TABLE status_entries (
    idx            bigint PRIMARY KEY,
    credential     text NOT NULL,
    kind           text NOT NULL,
    ref            text NOT NULL,
    allocated_at   timestamptz NOT NULL,
    invalidated_at timestamptz
);
CREATE UNIQUE INDEX status_entries_current ON status_entries (credential) WHERE invalidated_at IS NULL;
CREATE INDEX status_entries_invalidated ON status_entries (invalidated_at) WHERE invalidated_at IS NOT NULL;

CREATE TABLE status_free (
    idx bigint PRIMARY KEY
);

CREATE TABLE status_alloc (
    id       bigint PRIMARY KEY CHECK (id = 1),
    next_idx bigint NOT NULL
);
INSERT INTO status_alloc (id, next_idx) VALUES (1, 0);

CREATE TABLE settings (
    key   text PRIMARY KEY,
    value text NOT NULL
);

-- +goose Down
DROP TABLE settings;
DROP TABLE status_alloc;
DROP TABLE status_free;
DROP TABLE status_entries;
DROP TABLE webhooks;
DROP TABLE assertion_jtis;
DROP TABLE revoked_tokens;
DROP TABLE audit_head;
DROP TABLE audit_events;
DROP TABLE signing_keys;
DROP TABLE legacy_keys;
DROP TABLE bindings;
DROP TABLE roles;
DROP TABLE clients;
DROP TABLE principals;
DROP TABLE tenants;
DROP TABLE generation;
