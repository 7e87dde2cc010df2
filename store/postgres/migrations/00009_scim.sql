-- SCIM 2.0 provisioning (issue 20 §1): connector tokens, the source of
-- each principal an IdP governs, groups, their members, the roles mapped
-- to group names, and the bindings SCIM made (so that it unbinds only
-- those, never an operator's).

-- +goose Up
CREATE TABLE scim_tokens (
    id           text PRIMARY KEY,
    tenant_id    text NOT NULL REFERENCES tenants (id),
    name         text NOT NULL,
    hash         bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL,
    created_by   text NOT NULL,
    revoked_at   timestamptz,
    revoked_by   text NOT NULL,
    last_used_at timestamptz
);
CREATE INDEX scim_tokens_tenant ON scim_tokens (tenant_id, id);

CREATE TABLE scim_users (
    principal_id  text PRIMARY KEY REFERENCES principals (id),
    tenant_id     text NOT NULL,
    user_name     text NOT NULL,
    user_name_key text NOT NULL,
    external_id   text NOT NULL,
    attributes    bytea NOT NULL,
    token_id      text NOT NULL,
    linked_by     text NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    deleted_at    timestamptz
);
CREATE UNIQUE INDEX scim_users_user_name ON scim_users (tenant_id, user_name_key) WHERE deleted_at IS NULL;
CREATE INDEX scim_users_external_id ON scim_users (tenant_id, external_id) WHERE deleted_at IS NULL;
CREATE INDEX scim_users_tenant ON scim_users (tenant_id, principal_id) WHERE deleted_at IS NULL;

CREATE TABLE scim_groups (
    id           text PRIMARY KEY,
    tenant_id    text NOT NULL REFERENCES tenants (id),
    display_name text NOT NULL,
    display_key  text NOT NULL,
    external_id  text NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);
CREATE UNIQUE INDEX scim_groups_name ON scim_groups (tenant_id, display_key);
CREATE INDEX scim_groups_tenant ON scim_groups (tenant_id, id);

CREATE TABLE scim_group_members (
    group_id     text NOT NULL REFERENCES scim_groups (id) ON DELETE CASCADE,
    principal_id text NOT NULL REFERENCES principals (id),
    PRIMARY KEY (group_id, principal_id)
);
CREATE INDEX scim_group_members_principal ON scim_group_members (principal_id, group_id);

CREATE TABLE scim_group_roles (
    tenant_id  text NOT NULL REFERENCES tenants (id),
    group_key  text NOT NULL,
    group_name text NOT NULL,
    role_id    text NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, group_key, role_id)
);

CREATE TABLE scim_bindings (
    principal_id text NOT NULL,
    role_id      text NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    PRIMARY KEY (principal_id, role_id)
);

-- +goose Down
DROP TABLE scim_bindings;
DROP TABLE scim_group_roles;
DROP TABLE scim_group_members;
DROP TABLE scim_groups;
DROP TABLE scim_users;
DROP TABLE scim_tokens;
