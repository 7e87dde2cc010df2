package postgres_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/authz/authz/audit"
	"github.com/authz/authz/store"
	"github.com/authz/authz/store/postgres"
	"github.com/authz/authz/store/postgres/pgproc"
	"github.com/authz/authz/store/storetest"
)

// roundTrips counts the statements a pool sends, each one round trip (the
// batch of the pipelined variant counts as one).
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	r.n.Add(1)
	return ctx
}

func (r *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (r *roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	r.n.Add(1)
	return ctx
}

func (r *roundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (r *roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

// chained numbers, links and hashes evs after head, as audit.Recorder
// does before Store.AppendAudit, and returns the new head.
func chained(head store.AuditHead, evs []store.AuditEvent) store.AuditHead {
	for i := range evs {
		evs[i].ID = store.NewID(store.PrefixEvent)
		evs[i].Seq = head.Seq + 1
		evs[i].PrevHash = head.Hash
		evs[i].Hash = audit.Hash(head.Hash, evs[i])
		head = store.AuditHead{Seq: evs[i].Seq, Hash: evs[i].Hash}
	}
	return head
}

// BenchmarkAuditCommit measures one audit group commit of k events on
// PostgreSQL, the way the recorder makes it, against the reference in the
// same run: the locked path (BEGIN, SELECT … FOR UPDATE of the head,
// INSERT, conditional UPDATE of the head, COMMIT; Store.Tx with
// audit.Append). The variants, each on a schema of its own on the same
// server, driven commit by commit in turn (rotating who goes first):
//
//   - "one": Store.AppendAudit after the head the caller remembers (the
//     recorder's optimistic path): one statement on its own, one round trip;
//   - "unnest": "one" with one array parameter per column unnested into
//     rows instead of a VALUES list (one statement text for every size);
//   - "pipeline": the same events as a multi-row INSERT and a guarded move
//     of the head sent as one pgx batch (one implicit transaction) on the
//     raw connection (sql.Conn.Raw), the alternative to the one statement;
//   - "pgbouncer-ref" and "pgbouncer-one": the reference and "one" through
//     a real PgBouncer in transaction mode with cache_describe, as
//     --database-pooler transaction runs it.
//
// Reported per variant: wall µs per commit, round trips (statements sent)
// per commit, and the ratio of wall time to the reference's.
//
//	CI=true go test ./store/postgres -run '^$' -bench AuditCommit -benchtime 2000x -count 3
func BenchmarkAuditCommit(b *testing.B) {
	for _, k := range []int{1, 8, 32} {
		b.Run(fmt.Sprintf("events=%d", k), func(b *testing.B) { benchAuditCommit(b, k) })
	}
}

type commitVariant struct {
	name   string
	rt     *roundTrips
	commit func(ctx context.Context, evs []store.AuditEvent) error
	wall   time.Duration
	trips  int64
}

func benchAuditCommit(b *testing.B, k int) {
	ctx := context.Background()
	open := func(url string, opts ...postgres.Option) (store.Store, *roundTrips) {
		rt := &roundTrips{}
		s, err := postgres.Open(ctx, url, append(opts, postgres.WithTracer(rt))...)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		return s, rt
	}
	locked := func(name string, s store.Store, rt *roundTrips) *commitVariant {
		return &commitVariant{name: name, rt: rt, commit: func(ctx context.Context, evs []store.AuditEvent) error {
			return s.Tx(ctx, func(tx store.Tx) error { return audit.Append(ctx, tx, evs...) })
		}}
	}
	optimistic := func(name string, s store.Store, rt *roundTrips) *commitVariant {
		var head store.AuditHead // the store is fresh: the head is at 0
		return &commitVariant{name: name, rt: rt, commit: func(ctx context.Context, evs []store.AuditEvent) error {
			next := chained(head, evs)
			if err := s.AppendAudit(ctx, evs); err != nil {
				return err
			}
			head = next
			return nil
		}}
	}

	ref, rt := open(storetest.PostgresURL(b))
	vs := []*commitVariant{locked("ref", ref, rt)}
	one, rt := open(storetest.PostgresURL(b))
	vs = append(vs, optimistic("one", one, rt))
	vs = append(vs, unnested(b, storetest.PostgresURL(b)), pipelined(b, storetest.PostgresURL(b)))
	if _, err := os.Stat("/usr/sbin/pgbouncer"); err == nil || os.Getenv("CI") == "true" {
		base := os.Getenv("AUTHZ_TEST_POSTGRES")
		if base == "" {
			base = storetest.DefaultPostgres
		}
		pb := pgproc.StartPgBouncer(b, "127.0.0.1", 5432)
		s, rt := open(pb.Through(b, pgproc.TempDatabase(b, base)), postgres.WithTransactionPooler())
		vs = append(vs, locked("pgbouncer-ref", s, rt))
		s, rt = open(pb.Through(b, pgproc.TempDatabase(b, base)), postgres.WithTransactionPooler())
		vs = append(vs, optimistic("pgbouncer-one", s, rt))
	}

	template := make([]store.AuditEvent, k)
	now := time.Now().UTC()
	for i := range template {
		template[i] = store.AuditEvent{Time: now, Actor: "client:cli_bench", Action: "token.issue", Target: "client:cli_bench",
			TenantID: "ten_bench", Outcome: audit.OutcomeSuccess, RequestID: "req_bench", ClientAddr: "192.0.2.1",
			Details: []byte(`{"jti":"01JEXAMPLEJTI0000000000000","grant":"client_credentials","scope":"orders:read"}`)}
	}
	round := func(v *commitVariant) {
		evs := append([]store.AuditEvent(nil), template...)
		n0, t0 := v.rt.n.Load(), time.Now()
		if err := v.commit(ctx, evs); err != nil {
			b.Fatal(v.name, err)
		}
		v.wall += time.Since(t0)
		v.trips += v.rt.n.Load() - n0
	}
	for _, v := range vs { // warm the statement caches
		for range 3 {
			round(v)
		}
		v.wall, v.trips = 0, 0
	}
	b.ResetTimer()
	for i := range b.N {
		for j := range vs {
			round(vs[(i+j)%len(vs)])
		}
	}
	b.StopTimer()
	n := float64(b.N)
	for _, v := range vs {
		b.ReportMetric(float64(v.wall.Microseconds())/n, v.name+"-µs/commit")
		b.ReportMetric(float64(v.trips)/n, v.name+"-trips/commit")
		if v != vs[0] {
			b.ReportMetric(float64(v.wall)/float64(vs[0].wall), v.name+"/ref")
		}
	}
}

// rawVariant is a variant that runs its commit on the raw pgx connection
// (sql.Conn.Raw) of a pool of its own, on a schema of its own.
func rawVariant(b *testing.B, name string, url string, commit func(ctx context.Context, c *pgx.Conn, head, next store.AuditHead, evs []store.AuditEvent) error) *commitVariant {
	ctx := context.Background()
	s, err := postgres.Open(ctx, url) // migrates the schema
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	rt := &roundTrips{}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		b.Fatal(err)
	}
	cfg.ConnConfig.Tracer = rt
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	db := stdlib.OpenDBFromPool(pool)
	b.Cleanup(func() { db.Close(); pool.Close() })
	var head store.AuditHead
	return &commitVariant{name: name, rt: rt, commit: func(ctx context.Context, evs []store.AuditEvent) error {
		next := chained(head, evs)
		conn, err := db.Conn(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		if err := conn.Raw(func(dc any) error { return commit(ctx, dc.(*stdlib.Conn).Conn(), head, next, evs) }); err != nil {
			return err
		}
		head = next
		return nil
	}}
}

const benchAuditCols = `seq, id, time, actor, action, target, tenant_id, outcome, error_code, request_id, client_addr, details, prev_hash, hash`

// nullable is b, or nil (SQL NULL) when b is nil.
func nullable(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}

// pipelined sends the commit as one pgx batch (one implicit transaction):
// a multi-row INSERT, and a move of the head that fails (division by zero)
// unless the head was where the events follow, so that the batch rolls
// back.
func pipelined(b *testing.B, url string) *commitVariant {
	return rawVariant(b, "pipeline", url, func(ctx context.Context, c *pgx.Conn, head, next store.AuditHead, evs []store.AuditEvent) error {
		var values strings.Builder
		args := make([]any, 0, 14*len(evs))
		for i, e := range evs {
			if i > 0 {
				values.WriteString(", ")
			}
			values.WriteString("(")
			for c := range 14 {
				if c > 0 {
					values.WriteString(", ")
				}
				fmt.Fprintf(&values, "$%d", 14*i+c+1)
			}
			values.WriteString(")")
			args = append(args, e.Seq, e.ID, e.Time, e.Actor, e.Action, e.Target, e.TenantID, e.Outcome, e.ErrorCode,
				e.RequestID, e.ClientAddr, nullable(e.Details), nullable(e.PrevHash), e.Hash)
		}
		var batch pgx.Batch
		batch.Queue(`INSERT INTO audit_events (`+benchAuditCols+`) VALUES `+values.String(), args...)
		batch.Queue(`WITH h AS (UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1 AND seq = $3 AND hash IS NOT DISTINCT FROM $4::bytea RETURNING 1)
			SELECT 1 / count(*) FROM h`, next.Seq, next.Hash, head.Seq, nullable(head.Hash))
		return c.SendBatch(ctx, &batch).Close()
	})
}

// unnested is "one" with the events as one array parameter per column,
// unnested into rows, instead of a VALUES list: one statement text for
// every batch size.
func unnested(b *testing.B, url string) *commitVariant {
	return rawVariant(b, "unnest", url, func(ctx context.Context, c *pgx.Conn, head, next store.AuditHead, evs []store.AuditEvent) error {
		n := len(evs)
		seqs, times := make([]int64, n), make([]time.Time, n)
		var text [8][]string
		for i := range text {
			text[i] = make([]string, n)
		}
		ids, details, prevs, hashes := make([]string, n), make([][]byte, n), make([][]byte, n), make([][]byte, n)
		for i, e := range evs {
			seqs[i], ids[i], times[i] = e.Seq, e.ID, e.Time
			for j, v := range []string{e.Actor, e.Action, e.Target, e.TenantID, e.Outcome, e.ErrorCode, e.RequestID, e.ClientAddr} {
				text[j][i] = v
			}
			details[i], prevs[i], hashes[i] = e.Details, e.PrevHash, e.Hash
		}
		tag, err := c.Exec(ctx, `WITH head AS (
	UPDATE audit_head SET seq = $1, hash = $2
	WHERE id = 1 AND seq = $3 AND hash IS NOT DISTINCT FROM $4::bytea RETURNING 1)
INSERT INTO audit_events (`+benchAuditCols+`)
SELECT u.* FROM unnest($5::bigint[], $6::text[], $7::timestamptz[], $8::text[], $9::text[], $10::text[], $11::text[],
	$12::text[], $13::text[], $14::text[], $15::text[], $16::bytea[], $17::bytea[], $18::bytea[]) AS u(`+benchAuditCols+`)
WHERE EXISTS (SELECT FROM head)`, next.Seq, next.Hash, head.Seq, nullable(head.Hash),
			seqs, ids, times, text[0], text[1], text[2], text[3], text[4], text[5], text[6], text[7], details, prevs, hashes)
		if err == nil && tag.RowsAffected() != int64(n) {
			err = fmt.Errorf("unnest: %d of %d rows inserted", tag.RowsAffected(), n)
		}
		return err
	})
}
