package postgres_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/authz/authz/audit"
	"github.com/authz/authz/store"
	"github.com/authz/authz/store/postgres"
	"github.com/authz/authz/store/postgres/pgproc"
	"github.com/authz/authz/store/storetest"
)

// BenchmarkQueryExecMode measures what pgx's query execution modes cost on
// the store operations of the token path: the directory's read of a client
// (a cache miss, after any change), the generation poll, and the audit
// group commit of 16 events (the batch size measured under load). Each
// iteration runs one round of those operations (four client reads and
// four generation reads, then one commit) on every variant in turn, on
// schemas of its own on the same server; reported are µs per read and per
// commit for each, and the ratios to pgx's default (cache_statement, named
// prepared statements: the reference, "ref", in the same run). The variant "pgbouncer" is
// cache_describe through a real PgBouncer in transaction mode, as
// --database-pooler transaction runs it.
//
//	CI=true go test ./store/postgres -run '^$' -bench QueryExecMode -benchtime 500x -count 3
func BenchmarkQueryExecMode(b *testing.B) {
	ctx := context.Background()
	type variant struct {
		name         string
		st           store.Store
		read, commit time.Duration
	}
	var vs []*variant
	for _, mode := range []string{"cache_statement", "cache_describe", "describe_exec", "exec", "simple_protocol"} {
		s, err := postgres.Open(ctx, storetest.PostgresURL(b)+"&default_query_exec_mode="+mode)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		vs = append(vs, &variant{name: mode, st: s})
	}
	if _, err := os.Stat("/usr/sbin/pgbouncer"); err == nil || os.Getenv("CI") == "true" {
		base := os.Getenv("AUTHZ_TEST_POSTGRES")
		if base == "" {
			base = storetest.DefaultPostgres
		}
		pb := pgproc.StartPgBouncer(b, "127.0.0.1", 5432)
		s, err := postgres.Open(ctx, pb.Through(b, pgproc.TempDatabase(b, base)), postgres.WithTransactionPooler())
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		vs = append(vs, &variant{name: "pgbouncer", st: s})
	}
	now := time.Now().UTC()
	for _, v := range vs {
		if err := v.st.CreateTenant(ctx, store.Tenant{ID: "ten_b", Name: "b", Status: store.StatusActive, StatusChangedAt: now, CreatedAt: now, UpdatedAt: now}); err != nil {
			b.Fatal(err)
		}
		if err := v.st.CreatePrincipal(ctx, store.Principal{ID: "prn_b", TenantID: "ten_b", Kind: store.KindService, DisplayName: "b",
			Status: store.StatusActive, StatusChangedAt: now, CreatedAt: now, UpdatedAt: now}); err != nil {
			b.Fatal(err)
		}
		if err := v.st.CreateClient(ctx, store.Client{ID: "cli_b", TenantID: "ten_b", OwnerID: "prn_b", Name: "b", AuthMethod: store.AuthSecretBasic,
			Secrets:    []store.ClientSecret{{ID: "sec_b", Hash: []byte("hash"), CreatedAt: now}},
			GrantTypes: []string{store.GrantClientCredentials}, Scopes: []string{"orders:read"}, Status: store.StatusActive,
			StatusChangedAt: now, CreatedAt: now, UpdatedAt: now}); err != nil {
			b.Fatal(err)
		}
	}
	events := make([]store.AuditEvent, 16)
	for i := range events {
		events[i] = store.AuditEvent{ID: fmt.Sprintf("evt_%d", i), Time: now, Actor: "client:cli_b", Action: "token.issue",
			Target: "client:cli_b", TenantID: "ten_b", Outcome: "success", Details: []byte(`{"jti":"01JEXAMPLEJTI0000000000000","grant":"client_credentials"}`)}
	}
	// round runs the reads and the commit of one round on v, timing each.
	round := func(v *variant) error {
		start := time.Now()
		for range 4 {
			if _, err := v.st.GetClient(ctx, "cli_b"); err != nil {
				return err
			}
			if _, err := v.st.Generation(ctx); err != nil {
				return err
			}
		}
		mid := time.Now()
		err := v.st.Tx(ctx, func(tx store.Tx) error { return audit.Append(ctx, tx, events...) })
		v.read += mid.Sub(start)
		v.commit += time.Since(mid)
		return err
	}
	for _, v := range vs { // warm every statement cache
		if err := round(v); err != nil {
			b.Fatal(v.name, err)
		}
		v.read, v.commit = 0, 0
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range vs {
			v := vs[(i+j)%len(vs)] // rotate who goes first
			if err := round(v); err != nil {
				b.Fatal(v.name, err)
			}
		}
	}
	b.StopTimer()
	ref := vs[0]
	for _, v := range vs {
		unit := strings.ReplaceAll(v.name, "_", "-")
		b.ReportMetric(float64(v.read.Microseconds())/float64(8*b.N), unit+"-read-µs")
		b.ReportMetric(float64(v.commit.Microseconds())/float64(b.N), unit+"-commit-µs")
		if v != ref {
			b.ReportMetric(float64(v.read)/float64(ref.read), unit+"-read/ref")
			b.ReportMetric(float64(v.commit)/float64(ref.commit), unit+"-commit/ref")
		}
	}
}
