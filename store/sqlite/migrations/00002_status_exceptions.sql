-- Indexes through which a status-list build finds the entries that are not
-- VALID without reading every entry (sqlstore.ListStatusExceptions): the
-- objects that are not active are few, the entries many.

-- +goose Up
CREATE INDEX principals_status ON principals (status, status_changed_at);
CREATE INDEX clients_not_active ON clients (id) WHERE status <> 'active';
CREATE INDEX tenants_not_active ON tenants (id) WHERE status <> 'active';
CREATE INDEX legacy_keys_revoked ON legacy_keys (revoked_at) WHERE status = 'revoked';

-- +goose Down
DROP INDEX legacy_keys_revoked;
DROP INDEX tenants_not_active;
DROP INDEX clients_not_active;
DROP INDEX principals_status;
