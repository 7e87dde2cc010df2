-- SCIM 2.0 provisioning (issue 20 §1): connector tokens, the source of
-- each principal an IdP governs, groups, their members, the roles mapped
-- to group names, and the bindings SCIM made (so that it unbinds only
-- those, never an operator's).

-- +goose Up
CREATE TABLE scim_tokens (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    name         TEXT NOT NULL,
    hash         BLOB NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    created_by   TEXT NOT NULL,
    revoked_at   INTEGER,
    revoked_by   TEXT NOT NULL,
    last_used_at INTEGER
) STRICT;
CREATE INDEX scim_tokens_tenant ON scim_tokens (tenant_id, id);

CREATE TABLE scim_users (
    principal_id  TEXT PRIMARY KEY REFERENCES principals (id),
    tenant_id     TEXT NOT NULL,
    user_name     TEXT NOT NULL,
    user_name_key TEXT NOT NULL,
    external_id   TEXT NOT NULL,
    attributes    BLOB NOT NULL,
    token_id      TEXT NOT NULL,
    linked_by     TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    deleted_at    INTEGER
) STRICT;
CREATE UNIQUE INDEX scim_users_user_name ON scim_users (tenant_id, user_name_key) WHERE deleted_at IS NULL;
CREATE INDEX scim_users_external_id ON scim_users (tenant_id, external_id) WHERE deleted_at IS NULL;
CREATE INDEX scim_users_tenant ON scim_users (tenant_id, principal_id) WHERE deleted_at IS NULL;

CREATE TABLE scim_groups (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    display_name TEXT NOT NULL,
    display_key  TEXT NOT NULL,
    external_id  TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX scim_groups_name ON scim_groups (tenant_id, display_key);
CREATE INDEX scim_groups_tenant ON scim_groups (tenant_id, id);

CREATE TABLE scim_group_members (
    group_id     TEXT NOT NULL REFERENCES scim_groups (id) ON DELETE CASCADE,
    principal_id TEXT NOT NULL REFERENCES principals (id),
    PRIMARY KEY (group_id, principal_id)
) STRICT;
CREATE INDEX scim_group_members_principal ON scim_group_members (principal_id, group_id);

CREATE TABLE scim_group_roles (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    group_key  TEXT NOT NULL,
    group_name TEXT NOT NULL,
    role_id    TEXT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, group_key, role_id)
) STRICT;

CREATE TABLE scim_bindings (
    principal_id TEXT NOT NULL,
    role_id      TEXT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    PRIMARY KEY (principal_id, role_id)
) STRICT;

-- +goose Down
DROP TABLE scim_bindings;
DROP TABLE scim_group_roles;
DROP TABLE scim_group_members;
DROP TABLE scim_groups;
DROP TABLE scim_users;
DROP TABLE scim_tokens;
