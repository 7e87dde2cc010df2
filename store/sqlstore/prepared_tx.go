package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// The statements of the audit group commit, which runs once per batch of
// issued tokens: on SQLite each is prepared once per process and reused,
// instead of being parsed again by every commit (measured: parsing was
// about 15 % of the server's CPU at one connection, where every token has a
// commit of its own).
const (
	sqlAuditHead     = `SELECT seq, hash FROM audit_head WHERE id = 1`
	sqlAuditMoveHead = `UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1 AND seq = $3`
	// sqlAuditMoveHeadFrom is the move of Store.AppendAudit, which has not
	// read the head: it checks the hash the events follow too.
	sqlAuditMoveHeadFrom = `UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1 AND seq = $3 AND hash IS NOT DISTINCT FROM $4`
	sqlAuditInsert1      = `INSERT INTO audit_events (` + auditCols + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`
)

// hotStatements are prepared on the writer pool when the dialect asks for
// it (Dialect.PrepareStatements): the audit group commit's, the
// status-list allocation's (status.go) and the network record of the
// alert detectors (alerts.go), all of which run for first uses of
// credentials.
var hotStatements = []string{sqlAuditHead, sqlAuditMoveHead, sqlAuditMoveHeadFrom, sqlAuditInsert1,
	sqlStatusCurrent, sqlStatusFree, sqlStatusTakeFree, sqlStatusBump, sqlStatusInsert1,
	sqlNetworkAdd, sqlNetworkTouch, sqlNetworkList}

// preparedSet holds the writer pool's prepared statements, by text.
type preparedSet struct {
	mu    sync.Mutex
	done  bool
	stmts map[string]*sql.Stmt
}

// prepare prepares the hot statements on db once. It must run outside a
// transaction: on SQLite the pool's one connection is the transaction's.
// A failure is not fatal: the statements then run unprepared, and the next
// transaction tries again.
func (p *preparedSet) prepare(ctx context.Context, db *sql.DB) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return
	}
	stmts := make(map[string]*sql.Stmt, len(hotStatements))
	for _, q := range hotStatements {
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			for _, s := range stmts {
				s.Close()
			}
			return
		}
		stmts[q] = st
	}
	p.stmts, p.done = stmts, true
}

// get returns the prepared statement for query, or nil.
func (p *preparedSet) get(query string) *sql.Stmt {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stmts[query]
}

func (p *preparedSet) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.stmts {
		s.Close()
	}
	p.stmts = nil
}

// preparedQuerier runs the statements a transaction has prepared (through
// Tx.StmtContext, which reuses the driver statement already prepared on the
// transaction's connection) and everything else as given.
type preparedQuerier struct {
	tx  *sql.Tx
	set *preparedSet
}

func (p preparedQuerier) stmt(ctx context.Context, query string) *sql.Stmt {
	if st := p.set.get(query); st != nil {
		return p.tx.StmtContext(ctx, st)
	}
	return nil
}

func (p preparedQuerier) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := p.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return p.tx.ExecContext(ctx, query, args...)
}

func (p preparedQuerier) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := p.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return p.tx.QueryContext(ctx, query, args...)
}

func (p preparedQuerier) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := p.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return p.tx.QueryRowContext(ctx, query, args...)
}

func (p preparedQuerier) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	return p.tx.PrepareContext(ctx, query)
}

// uncancelled checks the caller's context before each statement and runs
// the statement under one that cannot be cancelled
// (Dialect.UncancelledStatements): a statement already running is let
// finish, and the transaction fails at the next one, or before COMMIT.
type uncancelled struct{ q querier }

func (u uncancelled) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return u.q.ExecContext(context.WithoutCancel(ctx), query, args...)
}

func (u uncancelled) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return u.q.QueryContext(context.WithoutCancel(ctx), query, args...)
}

func (u uncancelled) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if ctx.Err() != nil {
		return u.q.QueryRowContext(ctx, query, args...) // its Scan reports ctx's error
	}
	return u.q.QueryRowContext(context.WithoutCancel(ctx), query, args...)
}

// PrepareContext passes through for the bulk insert's per-row statement,
// which is executed under the caller's context.
func (u uncancelled) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	p, ok := u.q.(interface {
		PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
	})
	if !ok {
		return nil, errors.New("the connection cannot prepare statements")
	}
	return p.PrepareContext(ctx, query)
}
