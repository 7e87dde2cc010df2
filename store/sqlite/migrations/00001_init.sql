-- The authz schema on SQLite. Times are INTEGER microseconds since the Unix
-- epoch (UTC); string lists and client secrets are JSON text; hashes, keys
-- and audit details are BLOBs, stored byte for byte. Tables are STRICT so
-- that a value of the wrong type is refused rather than silently kept.

-- +goose Up
CREATE TABLE generation (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    value INTEGER NOT NULL
) STRICT;
INSERT INTO generation (id, value) VALUES (1, 0);

CREATE TABLE tenants (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL UNIQUE,
    status            TEXT NOT NULL,
    legacy_sunset_at  INTEGER,
    status_changed_at INTEGER NOT NULL,
    status_changed_by TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
) STRICT;

CREATE TABLE principals (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL REFERENCES tenants (id),
    kind              TEXT NOT NULL,
    display_name      TEXT NOT NULL,
    external_id       TEXT NOT NULL,
    status            TEXT NOT NULL,
    status_changed_at INTEGER NOT NULL,
    status_changed_by TEXT NOT NULL,
    deleted_at        INTEGER,
    deleted_by        TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
) STRICT;
-- A deleted principal's tombstone keeps its external id without blocking a
-- new principal from taking it.
CREATE UNIQUE INDEX principals_external_id ON principals (tenant_id, external_id)
    WHERE status <> 'deleted' AND external_id <> '';
CREATE INDEX principals_tenant ON principals (tenant_id, id);

CREATE TABLE clients (
    id                  TEXT PRIMARY KEY,
    tenant_id           TEXT NOT NULL REFERENCES tenants (id),
    owner_id            TEXT NOT NULL REFERENCES principals (id),
    name                TEXT NOT NULL,
    auth_method         TEXT NOT NULL,
    secrets             TEXT NOT NULL,
    jwks                BLOB,
    jwks_uri            TEXT NOT NULL,
    grant_types         TEXT NOT NULL,
    scopes              TEXT NOT NULL,
    audiences           TEXT NOT NULL,
    access_token_ttl_ns INTEGER NOT NULL,
    status              TEXT NOT NULL,
    status_changed_at   INTEGER NOT NULL,
    status_changed_by   TEXT NOT NULL,
    last_used_at        INTEGER,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
) STRICT;
CREATE INDEX clients_tenant ON clients (tenant_id, id);
CREATE INDEX clients_owner ON clients (owner_id);

CREATE TABLE roles (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    name        TEXT NOT NULL,
    permissions TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (tenant_id, name)
) STRICT;

CREATE TABLE bindings (
    principal_id TEXT NOT NULL REFERENCES principals (id),
    role_id      TEXT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    tenant_id    TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (principal_id, role_id)
) STRICT;
CREATE INDEX bindings_role ON bindings (role_id);
CREATE INDEX bindings_tenant ON bindings (tenant_id, principal_id, role_id);

-- No foreign keys: an imported key may name an owner or a tenant that does
-- not exist, and must still be stored so that it can be refused with the
-- right reason and repaired.
CREATE TABLE legacy_keys (
    id               TEXT PRIMARY KEY,
    hash             BLOB NOT NULL UNIQUE,
    tenant_id        TEXT NOT NULL,
    owner_id         TEXT NOT NULL,
    owner_ref        TEXT NOT NULL,
    scopes           TEXT NOT NULL,
    label            TEXT NOT NULL,
    environment      TEXT NOT NULL,
    source           TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER,
    status           TEXT NOT NULL,
    revoked_at       INTEGER,
    revoked_by       TEXT NOT NULL,
    revoked_reason   TEXT NOT NULL,
    rotated_from     TEXT NOT NULL,
    last_used_at     INTEGER,
    use_count        INTEGER NOT NULL,
    expiry_notice_at INTEGER,
    updated_at       INTEGER NOT NULL
) STRICT;
CREATE INDEX legacy_keys_tenant ON legacy_keys (tenant_id, id);
CREATE INDEX legacy_keys_owner ON legacy_keys (owner_id, tenant_id);
CREATE INDEX legacy_keys_owner_ref ON legacy_keys (tenant_id, owner_ref);
CREATE INDEX legacy_keys_expiry ON legacy_keys (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE signing_keys (
    kid          TEXT PRIMARY KEY,
    alg          TEXT NOT NULL,
    state        TEXT NOT NULL,
    private      BLOB,
    public       BLOB,
    created_at   INTEGER NOT NULL,
    published_at INTEGER NOT NULL,
    activated_at INTEGER,
    retired_at   INTEGER,
    remove_after INTEGER
) STRICT;
CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys (state) WHERE state = 'current';

CREATE TABLE audit_events (
    seq         INTEGER PRIMARY KEY,
    id          TEXT NOT NULL,
    time        INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target      TEXT NOT NULL,
    tenant_id   TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    error_code  TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    client_addr TEXT NOT NULL,
    details     BLOB,
    prev_hash   BLOB,
    hash        BLOB NOT NULL
) STRICT;
CREATE INDEX audit_events_target ON audit_events (target, time);
CREATE INDEX audit_events_tenant ON audit_events (tenant_id, seq);
CREATE INDEX audit_events_time ON audit_events (time);

CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash BLOB
) STRICT;
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, NULL);

CREATE TABLE revoked_tokens (
    jti        TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX revoked_tokens_expiry ON revoked_tokens (expires_at);

CREATE TABLE assertion_jtis (
    client_id  TEXT NOT NULL,
    jti        TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (client_id, jti)
) STRICT;
CREATE INDEX assertion_jtis_expiry ON assertion_jtis (expires_at);

CREATE TABLE webhooks (
    id              TEXT PRIMARY KEY,
    event_type      TEXT NOT NULL,
    payload         BLOB,
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    delivered_at    INTEGER,
    last_error      TEXT NOT NULL
) STRICT;
CREATE INDEX webhooks_due ON webhooks (next_attempt_at) WHERE delivered_at IS NULL;
CREATE INDEX webhooks_delivered ON webhooks (delivered_at) WHERE delivered_at IS NOT NULL;

CREATE TABLE status_entries (
    idx            INTEGER PRIMARY KEY,
    credential     TEXT NOT NULL,
    kind           TEXT NOT NULL,
    ref            TEXT NOT NULL,
    allocated_at   INTEGER NOT NULL,
    invalidated_at INTEGER
) STRICT;
CREATE UNIQUE INDEX status_entries_current ON status_entries (credential) WHERE invalidated_at IS NULL;
CREATE INDEX status_entries_invalidated ON status_entries (invalidated_at) WHERE invalidated_at IS NOT NULL;

CREATE TABLE status_free (
    idx INTEGER PRIMARY KEY
) STRICT;

CREATE TABLE status_alloc (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    next_idx INTEGER NOT NULL
) STRICT;
INSERT INTO status_alloc (id, next_idx) VALUES (1, 0);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

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
