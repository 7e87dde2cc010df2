package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/authz/authz/store"
)

const clientCols = `id, tenant_id, owner_id, name, auth_method, secrets, jwks, jwks_uri, grant_types, scopes, audiences,
	access_token_ttl_ns, status, status_changed_at, status_changed_by, last_used_at, created_at, updated_at`

// secretJSON is the stored form of a client secret. Its field names are the
// storage format, independent of the Go type's.
type secretJSON struct {
	ID        string     `json:"id"`
	Hash      []byte     `json:"hash"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

func encodeSecrets(ss []store.ClientSecret) (string, error) {
	if ss == nil {
		return "null", nil
	}
	out := make([]secretJSON, len(ss))
	for i, s := range ss {
		out[i] = secretJSON{ID: s.ID, Hash: s.Hash, CreatedAt: s.CreatedAt.UTC().Truncate(time.Microsecond)}
		if s.ExpiresAt != nil {
			e := s.ExpiresAt.UTC().Truncate(time.Microsecond)
			out[i].ExpiresAt = &e
		}
	}
	return jsonText(out)
}

func decodeSecrets(in []secretJSON) []store.ClientSecret {
	if in == nil {
		return nil
	}
	out := make([]store.ClientSecret, len(in))
	for i, s := range in {
		out[i] = store.ClientSecret{ID: s.ID, Hash: s.Hash, CreatedAt: s.CreatedAt.UTC()}
		if s.ExpiresAt != nil {
			e := s.ExpiresAt.UTC()
			out[i].ExpiresAt = &e
		}
	}
	return out
}

func scanClient(r scanner, c *store.Client) error {
	var (
		secrets                         []secretJSON
		jwks                            []byte
		ttl                             int64
		changed, lastUsed, created, upd timeCol
	)
	if err := r.Scan(&c.ID, &c.TenantID, &c.OwnerID, &c.Name, &c.AuthMethod, jsonCol{&secrets}, bytesCol{&jwks},
		&c.JWKSURI, jsonCol{&c.GrantTypes}, jsonCol{&c.Scopes}, jsonCol{&c.Audiences}, &ttl, &c.Status, &changed,
		&c.StatusChangedBy, &lastUsed, &created, &upd); err != nil {
		return err
	}
	c.Secrets = decodeSecrets(secrets)
	c.JWKS = jwks
	c.AccessTokenTTL = time.Duration(ttl)
	c.StatusChangedAt, c.LastUsedAt, c.CreatedAt, c.UpdatedAt = changed.T, lastUsed.ptr(), created.T, upd.T
	return nil
}

func (q *queries) clientArgs(c store.Client) ([]any, error) {
	secrets, err := encodeSecrets(c.Secrets)
	if err != nil {
		return nil, err
	}
	return []any{c.ID, c.TenantID, c.OwnerID, c.Name, c.AuthMethod, secrets, nullBytes(c.JWKS), c.JWKSURI,
		mustJSON(c.GrantTypes), mustJSON(c.Scopes), mustJSON(c.Audiences), int64(c.AccessTokenTTL), string(c.Status),
		q.d.encodeTime(c.StatusChangedAt), c.StatusChangedBy, q.d.encodeNullTime(c.LastUsedAt),
		q.d.encodeTime(c.CreatedAt), q.d.encodeTime(c.UpdatedAt)}, nil
}

func (q *queries) getClient(ctx context.Context, id, lock string) (store.Client, error) {
	var c store.Client
	err := q.row(ctx, "get client", id, func(r scanner) error { return scanClient(r, &c) },
		`SELECT `+clientCols+` FROM clients WHERE id = $1`+lock, id)
	if err != nil {
		return c, err
	}
	cs := []store.Client{c}
	err = q.secretUses(ctx, cs)
	return cs[0], err
}

// secretUses fills in the last use of each secret of the clients, from
// client_secret_uses (one query for all of them).
func (q *queries) secretUses(ctx context.Context, cs []store.Client) error {
	var w where
	var ph []string
	at := map[string]int{}
	for i, c := range cs {
		if len(c.Secrets) > 0 {
			ph = append(ph, w.arg(c.ID))
			at[c.ID] = i
		}
	}
	if len(ph) == 0 {
		return nil
	}
	return q.rows(ctx, "get client secret uses", "", func(r scanner) error {
		var client, secret string
		var last timeCol
		if err := r.Scan(&client, &secret, &last); err != nil {
			return err
		}
		c := &cs[at[client]]
		for i := range c.Secrets {
			if c.Secrets[i].ID == secret {
				c.Secrets[i].LastUsedAt = last.ptr()
			}
		}
		return nil
	}, `SELECT client_id, secret_id, last_used_at FROM client_secret_uses WHERE client_id IN (`+strings.Join(ph, ", ")+`)`, w.args...)
}

// GetClient implements store.Queries.
func (q *queries) GetClient(ctx context.Context, id string) (store.Client, error) {
	return q.getClient(ctx, id, "")
}

// ListClients implements store.Queries.
func (q *queries) ListClients(ctx context.Context, f store.ClientFilter, p store.Page) ([]store.Client, string, error) {
	var w where
	w.eq("tenant_id", f.TenantID)
	w.eq("owner_id", f.OwnerID)
	w.eq("status", string(f.Status))
	if p.After != "" {
		w.add("id > ?", p.After)
	}
	limit := limitOf(p)
	var out []store.Client
	err := q.rows(ctx, "list clients", "", func(r scanner) error {
		var c store.Client
		if err := scanClient(r, &c); err != nil {
			return err
		}
		out = append(out, c)
		return nil
	}, `SELECT `+clientCols+` FROM clients`+w.sql()+` ORDER BY id LIMIT `+w.arg(limit+1), w.args...)
	if err != nil {
		return nil, "", err
	}
	out, next := pageOf(out, limit, func(c store.Client) string { return c.ID })
	if err := q.secretUses(ctx, out); err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// CreateClient implements store.Mutations. The tenant and the owning
// principal must exist.
func (t *txn) CreateClient(ctx context.Context, c store.Client) error {
	args, err := t.clientArgs(c)
	if err != nil {
		return fmt.Errorf("%s: create client %q: %w", t.d.Name, c.ID, err)
	}
	n, err := t.execN(ctx, "create client", c.ID,
		`INSERT INTO clients (`+clientCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
		 $15, $16, $17, $18) ON CONFLICT DO NOTHING`, args...)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%s: create client %q: exists: %w", t.d.Name, c.ID, store.ErrConflict)
	}
	t.markChanged()
	return nil
}

// UpdateClient implements store.Mutations.
func (t *txn) UpdateClient(ctx context.Context, id string, fn func(store.Client) (store.Client, error)) (store.Client, error) {
	cur, err := t.getClient(ctx, id, t.d.ForUpdate)
	if err != nil {
		return store.Client{}, err
	}
	next, err := fn(cur)
	if err != nil {
		return store.Client{}, err
	}
	next.ID = id
	args, err := t.clientArgs(next)
	if err != nil {
		return store.Client{}, fmt.Errorf("%s: update client %q: %w", t.d.Name, id, err)
	}
	if _, err := t.exec(ctx, "update client", id,
		`UPDATE clients SET tenant_id = $2, owner_id = $3, name = $4, auth_method = $5, secrets = $6, jwks = $7,
		 jwks_uri = $8, grant_types = $9, scopes = $10, audiences = $11, access_token_ttl_ns = $12, status = $13,
		 status_changed_at = $14, status_changed_by = $15, last_used_at = $16, created_at = $17, updated_at = $18
		 WHERE id = $1`, args...); err != nil {
		return store.Client{}, err
	}
	// A secret gone from the list (a rotation's overlap ended) takes its
	// last use with it.
	var w where
	w.add("client_id = ?", id)
	for _, s := range next.Secrets {
		w.add("secret_id <> ?", s.ID)
	}
	if _, err := t.exec(ctx, "forget client secret uses", id, `DELETE FROM client_secret_uses`+w.sql(), w.args...); err != nil {
		return store.Client{}, err
	}
	t.markChanged()
	return next, nil
}

// DeleteClient implements store.Mutations.
// The client's current status-list entry ends with it: status-list builds
// that do not read every entry rely on a current entry's client existing
// (see store.Queries.ListStatusExceptions).
func (t *txn) DeleteClient(ctx context.Context, id string, at time.Time) error {
	n, err := t.execN(ctx, "delete client", id, `DELETE FROM clients WHERE id = $1`, id)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%s: delete client %q: %w", t.d.Name, id, store.ErrNotFound)
	}
	if err := t.InvalidateStatusIndex(ctx, "client:"+id, at); err != nil {
		return err
	}
	t.markChanged()
	return nil
}

// RecordClientUsage implements store.Mutations. It does not move
// Generation: usage is not something a cache holds. Unknown clients are
// skipped. A secret's last use is kept by its id; reads show it only while
// the client has that secret, and the next update of the client deletes
// it after that.
func (t *txn) RecordClientUsage(ctx context.Context, us []store.ClientUsage) error {
	// One order for every writer, so that two flushers never deadlock.
	us = slices.Clone(us)
	slices.SortFunc(us, func(a, b store.ClientUsage) int {
		if c := strings.Compare(a.ClientID, b.ClientID); c != 0 {
			return c
		}
		return strings.Compare(a.SecretID, b.SecretID)
	})
	for _, u := range us {
		if _, err := t.exec(ctx, "record client usage", u.ClientID,
			`UPDATE clients SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)`,
			u.ClientID, t.d.encodeTime(u.LastUsedAt)); err != nil {
			return err
		}
	}
	// The secrets' rows after every clients row, in the same order, so
	// that two flushers lock alike. The insert finds its client's row
	// (none: skipped); that row's last_used_at is at least $3 now, and
	// comparing the two gives PostgreSQL $3's type, which a bare
	// parameter in a SELECT list would not have.
	for _, u := range us {
		if u.SecretID == "" {
			continue
		}
		if _, err := t.exec(ctx, "record client secret usage", u.ClientID,
			`INSERT INTO client_secret_uses (client_id, secret_id, last_used_at)
			 SELECT id, $2, $3 FROM clients WHERE id = $1 AND last_used_at >= $3
			 ON CONFLICT (client_id, secret_id) DO UPDATE SET last_used_at = excluded.last_used_at
			 WHERE client_secret_uses.last_used_at < excluded.last_used_at`,
			u.ClientID, u.SecretID, t.d.encodeTime(u.LastUsedAt)); err != nil {
			return err
		}
	}
	return nil
}
