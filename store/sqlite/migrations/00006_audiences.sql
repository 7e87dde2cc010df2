-- Audiences (resource servers) registered per tenant (issue 18 §4): one
-- issuer serves every tenant, so an identifier belongs to one tenant and
-- is requestable by it and by the tenants it is shared with.

-- +goose Up
CREATE TABLE audiences (
    id         TEXT PRIMARY KEY,
    identifier TEXT NOT NULL UNIQUE,
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
CREATE INDEX audiences_tenant ON audiences (tenant_id, id);

CREATE TABLE audience_shares (
    audience_id TEXT NOT NULL REFERENCES audiences (id),
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    PRIMARY KEY (audience_id, tenant_id)
) STRICT;
CREATE INDEX audience_shares_tenant ON audience_shares (tenant_id, audience_id);

-- Clients created before audiences were registered keep working where
-- their owner is unambiguous: an identifier that the clients of exactly
-- one tenant name is registered to that tenant. One that clients of
-- several tenants name is left unregistered, and tokens for it are
-- refused until an administrator registers it for the tenant that really
-- runs that API (and shares it): guessing would hand it to whichever
-- tenant named it first, which is the defect being fixed.
INSERT INTO audiences (id, identifier, tenant_id, created_at, updated_at)
SELECT 'aud_' || lower(hex(randomblob(8))), j.value, MIN(c.tenant_id),
       CAST(strftime('%s', 'now') AS INTEGER) * 1000000, CAST(strftime('%s', 'now') AS INTEGER) * 1000000
FROM clients c, json_each(c.audiences) j
WHERE json_type(c.audiences) = 'array' AND j.type = 'text' AND j.value <> ''
GROUP BY j.value
HAVING COUNT(DISTINCT c.tenant_id) = 1;

-- +goose Down
DROP TABLE audience_shares;
DROP TABLE audiences;
