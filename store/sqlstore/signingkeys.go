package sqlstore

import (
	"context"
	"fmt"

	"github.com/authz/authz/store"
)

const signingKeyCols = `kid, alg, state, private, public, created_at, published_at, activated_at, retired_at, remove_after`

func scanSigningKey(r scanner, k *store.SigningKey) error {
	var created, published, activated, retired, remove timeCol
	if err := r.Scan(&k.KID, &k.Alg, &k.State, bytesCol{&k.Private}, bytesCol{(*[]byte)(&k.Public)},
		&created, &published, &activated, &retired, &remove); err != nil {
		return err
	}
	k.CreatedAt, k.PublishedAt, k.ActivatedAt, k.RetiredAt, k.RemoveAfter =
		created.T, published.T, activated.ptr(), retired.ptr(), remove.ptr()
	return nil
}

func (q *queries) signingKeyArgs(k store.SigningKey) []any {
	return []any{k.KID, k.Alg, string(k.State), nullBytes(k.Private), nullBytes(k.Public),
		q.d.encodeTime(k.CreatedAt), q.d.encodeTime(k.PublishedAt), q.d.encodeNullTime(k.ActivatedAt),
		q.d.encodeNullTime(k.RetiredAt), q.d.encodeNullTime(k.RemoveAfter)}
}

// ListSigningKeys implements store.Queries.
func (q *queries) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	var out []store.SigningKey
	err := q.rows(ctx, "list signing keys", "", func(r scanner) error {
		var k store.SigningKey
		if err := scanSigningKey(r, &k); err != nil {
			return err
		}
		out = append(out, k)
		return nil
	}, `SELECT `+signingKeyCols+` FROM signing_keys ORDER BY created_at, kid`)
	return out, err
}

// CreateSigningKey implements store.Mutations. A second current key is a
// conflict: a partial unique index allows at most one.
func (t *txn) CreateSigningKey(ctx context.Context, k store.SigningKey) error {
	n, err := t.execN(ctx, "create signing key", k.KID,
		`INSERT INTO signing_keys (`+signingKeyCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		 ON CONFLICT DO NOTHING`, t.signingKeyArgs(k)...)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%s: create signing key %q: the kid exists, or another key is current: %w",
			t.d.Name, k.KID, store.ErrConflict)
	}
	t.markChanged()
	return nil
}

// UpdateSigningKey implements store.Mutations.
func (t *txn) UpdateSigningKey(ctx context.Context, kid string, fn func(store.SigningKey) (store.SigningKey, error)) (store.SigningKey, error) {
	var cur store.SigningKey
	if err := t.row(ctx, "get signing key", kid, func(r scanner) error { return scanSigningKey(r, &cur) },
		`SELECT `+signingKeyCols+` FROM signing_keys WHERE kid = $1`+t.d.ForUpdate, kid); err != nil {
		return store.SigningKey{}, err
	}
	next, err := fn(cur)
	if err != nil {
		return store.SigningKey{}, err
	}
	next.KID = kid
	if _, err := t.exec(ctx, "update signing key", kid,
		`UPDATE signing_keys SET alg = $2, state = $3, private = $4, public = $5, created_at = $6, published_at = $7,
		 activated_at = $8, retired_at = $9, remove_after = $10 WHERE kid = $1`, t.signingKeyArgs(next)...); err != nil {
		return store.SigningKey{}, err
	}
	t.markChanged()
	return next, nil
}

// DeleteSigningKey implements store.Mutations.
func (t *txn) DeleteSigningKey(ctx context.Context, kid string) error {
	n, err := t.execN(ctx, "delete signing key", kid, `DELETE FROM signing_keys WHERE kid = $1`, kid)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%s: delete signing key %q: %w", t.d.Name, kid, store.ErrNotFound)
	}
	t.markChanged()
	return nil
}

// LockSigningKeys implements store.Tx.
func (t *txn) LockSigningKeys(ctx context.Context) error {
	if t.d.LockSigningKeys == "" {
		return nil
	}
	_, err := t.exec(ctx, "lock signing keys", "", t.d.LockSigningKeys)
	return err
}
