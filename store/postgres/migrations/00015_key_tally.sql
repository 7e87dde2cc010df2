-- Counters for the migration report (issue 19): per tenant and per day of
-- last use, how many active keys there are. The report's active and
-- never-used counts, and its used-in-7/30-days counts but for the one day
-- the window starts in, are sums over a few hundred of these rows, not
-- counts over a million index entries (which, right after a bulk import
-- and before VACUUM has built the visibility map, visit every heap row:
-- 6 s at a million keys). Statement triggers keep them exact whatever
-- changes a key (insert, status change, use, reassignment to another
-- tenant, delete), one aggregated upsert per statement, in (tenant, day)
-- order so that two writers lock the rows in the same order; storetest's
-- tally subtests compare them with a recount. day is the UTC day of
-- last_used_at (days since 1970-01-01), -1 for a key never used.

-- +goose Up
CREATE TABLE legacy_key_tally (
    tenant_id text NOT NULL,
    day       bigint NOT NULL,
    n         bigint NOT NULL,
    PRIMARY KEY (tenant_id, day)
);

-- +goose StatementBegin
CREATE FUNCTION legacy_key_day(t timestamptz) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT COALESCE(floor(extract(epoch FROM t) / 86400)::bigint, -1) $$;
-- +goose StatementEnd

INSERT INTO legacy_key_tally (tenant_id, day, n)
SELECT tenant_id, legacy_key_day(last_used_at), COUNT(*)
FROM legacy_keys WHERE status = 'active'
GROUP BY 1, 2;

-- +goose StatementBegin
CREATE FUNCTION legacy_key_tally_apply() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO legacy_key_tally AS c (tenant_id, day, n)
        SELECT tenant_id, legacy_key_day(last_used_at), COUNT(*)
        FROM new_rows WHERE status = 'active'
        GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (tenant_id, day) DO UPDATE SET n = c.n + EXCLUDED.n;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO legacy_key_tally AS c (tenant_id, day, n)
        SELECT tenant_id, day, SUM(d)::bigint FROM (
            SELECT tenant_id, legacy_key_day(last_used_at) AS day, 1 AS d FROM new_rows WHERE status = 'active'
            UNION ALL
            SELECT tenant_id, legacy_key_day(last_used_at), -1 FROM old_rows WHERE status = 'active'
        ) x
        GROUP BY 1, 2 HAVING SUM(d) <> 0 ORDER BY 1, 2
        ON CONFLICT (tenant_id, day) DO UPDATE SET n = c.n + EXCLUDED.n;
    ELSE
        INSERT INTO legacy_key_tally AS c (tenant_id, day, n)
        SELECT tenant_id, legacy_key_day(last_used_at), -COUNT(*)
        FROM old_rows WHERE status = 'active'
        GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (tenant_id, day) DO UPDATE SET n = c.n + EXCLUDED.n;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER legacy_key_tally_insert AFTER INSERT ON legacy_keys
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION legacy_key_tally_apply();
CREATE TRIGGER legacy_key_tally_update AFTER UPDATE ON legacy_keys
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION legacy_key_tally_apply();
CREATE TRIGGER legacy_key_tally_delete AFTER DELETE ON legacy_keys
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION legacy_key_tally_apply();

-- +goose Down
DROP TRIGGER legacy_key_tally_delete ON legacy_keys;
DROP TRIGGER legacy_key_tally_update ON legacy_keys;
DROP TRIGGER legacy_key_tally_insert ON legacy_keys;
DROP FUNCTION legacy_key_tally_apply();
DROP FUNCTION legacy_key_day(timestamptz);
DROP TABLE legacy_key_tally;
