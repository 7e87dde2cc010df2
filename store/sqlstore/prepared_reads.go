package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// maxPrepared bounds the statements a preparedPool keeps: the store's
// queries are a fixed set of texts plus the filter combinations of its
// List calls, a few hundred in all. Past the bound a query runs unprepared.
const maxPrepared = 512

// preparedPool runs reads on a pool through statements prepared once per
// connection and kept, instead of parsing the SQL text on every call. On
// SQLite (modernc, which prepares each call's text anew) parsing was a
// fifth of a SCIM reconciliation's CPU; PostgreSQL's pgx caches its
// statements itself.
type preparedPool struct {
	db *sql.DB
	mu sync.RWMutex
	m  map[string]*sql.Stmt
}

func newPreparedPool(db *sql.DB) *preparedPool {
	return &preparedPool{db: db, m: make(map[string]*sql.Stmt)}
}

// stmt returns the prepared statement for query, preparing it on first
// use; nil when it cannot be kept (the cache is full, or preparing failed:
// the unprepared call then reports the error as before).
func (p *preparedPool) stmt(ctx context.Context, query string) *sql.Stmt {
	p.mu.RLock()
	st, ok := p.m[query]
	p.mu.RUnlock()
	if ok {
		return st
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if st, ok := p.m[query]; ok {
		return st
	}
	if len(p.m) >= maxPrepared || p.m == nil {
		return nil
	}
	st, err := p.db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	p.m[query] = st
	return st
}

func (p *preparedPool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := p.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return p.db.ExecContext(ctx, query, args...)
}

func (p *preparedPool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := p.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return p.db.QueryContext(ctx, query, args...)
}

func (p *preparedPool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := p.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return p.db.QueryRowContext(ctx, query, args...)
}

// close closes the statements; later calls run unprepared.
func (p *preparedPool) close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for _, st := range p.m {
		errs = append(errs, st.Close())
	}
	p.m = nil
	return errors.Join(errs...)
}
