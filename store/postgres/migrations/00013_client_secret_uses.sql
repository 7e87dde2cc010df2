-- The last use of each client secret (issue 12: the holder sees which of
-- a client's secrets, the current one or the one kept during a rotation
-- overlap, is still used). Written by the usage flush, like
-- clients.last_used_at; a row goes with its client, and a rotation that
-- drops a secret deletes its row.

-- +goose Up
CREATE TABLE client_secret_uses (
    client_id    TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    secret_id    TEXT NOT NULL,
    last_used_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (client_id, secret_id)
);

-- +goose Down
DROP TABLE client_secret_uses;
