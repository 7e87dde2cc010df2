-- Audit retention (issue 14): the anchor where the kept audit log begins
-- after a prune (the last pruned event's seq, hash and time), and named
-- leases so that one replica of many runs scheduled work. SQLite keeps
-- audit_events as it is: a prune deletes below the anchor in short
-- batches.

-- +goose Up
CREATE TABLE audit_anchor (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    seq       INTEGER NOT NULL,
    hash      BLOB,
    time      INTEGER,
    pruned_at INTEGER
) STRICT;
INSERT INTO audit_anchor (id, seq, hash, time, pruned_at) VALUES (1, 0, NULL, NULL, NULL);

CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;

-- +goose Down
DROP TABLE leases;
DROP TABLE audit_anchor;
