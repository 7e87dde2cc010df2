package publisher_test

import (
	"context"
	"database/sql"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite" // the "sqlite" driver, for the bulk insert

	"github.com/authz/authz/audit"
	"github.com/authz/authz/jwks"
	"github.com/authz/authz/masterkey"
	"github.com/authz/authz/oauth"
	"github.com/authz/authz/server"
	"github.com/authz/authz/statuslist"
	"github.com/authz/authz/statuslist/publisher"
	"github.com/authz/authz/store"
	"github.com/authz/authz/store/backends"
	"github.com/authz/authz/store/storetest"
)

var benchBackends = []struct {
	name string
	url  func(testing.TB) string
}{{"sqlite", storetest.SQLiteURL}, {"postgres", storetest.PostgresURL}}

// BenchmarkIssuance measures client-credentials issuance through two
// token endpoints that share one server's store, directory, keys and audit
// log and differ only in the status list: "without" has none, "with" adds
// the status claim from the publisher. Each iteration sends a batch of 256
// requests, 32 in flight (the audit log's group commit works as in
// production), to each endpoint in turn, alternating which goes first;
// the process's CPU time is charged to the endpoint whose batch ran, so
// both see the same background load. Reported: CPU time per request of
// each, and their ratio with/without.
//
//	go test -run '^$' -bench Issuance -benchtime 40x -count 5 ./statuslist/publisher
func BenchmarkIssuance(b *testing.B) {
	for _, bk := range benchBackends {
		b.Run(bk.name, func(b *testing.B) {
			srv, id, secret := benchServer(b, bk.url(b))
			var endpoints [2]http.Handler // without, with
			for i, status := range []oauth.StatusLists{nil, srv.Status} {
				o, err := oauth.New(oauth.Config{Issuer: "https://authz.bench"}, oauth.Deps{
					Store: srv.Store, Directory: srv.Directory, Signer: srv.Keys.Signer(), Verifier: srv.Keys,
					SigningAlgs: srv.Keys.Algs(), JWKS: srv.Keys, Secrets: srv.Secrets, LegacyHasher: srv.KeyHasher,
					Audit: srv.Audit, AuditAppend: audit.Append, Usage: srv.Usage, Status: status,
				})
				if err != nil {
					b.Fatal(err)
				}
				endpoints[i] = o.Handler()
			}
			const batch, inFlight = 256, 32
			send := func(v int) {
				var wg sync.WaitGroup
				for range inFlight {
					wg.Go(func() {
						for range batch / inFlight {
							req := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader("grant_type=client_credentials&scope=orders%3Aread"))
							req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
							req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
							rec := httptest.NewRecorder()
							endpoints[v].ServeHTTP(rec, req)
							if rec.Code != http.StatusOK {
								b.Errorf("%d %s", rec.Code, rec.Body)
								return
							}
							if (v == 1) != strings.Contains(tokenPayload(b, rec.Body.String()), `"status_list"`) {
								b.Errorf("endpoint %d: status claim presence is wrong", v)
								return
							}
						}
					})
				}
				wg.Wait()
			}
			send(0) // warm both: the first claim allocates the client's index
			send(1)
			var cpu [2]int64
			i := 0
			for b.Loop() {
				for _, v := range [2]int{i % 2, 1 - i%2} {
					start := cpuTime()
					send(v)
					cpu[v] += cpuTime() - start
				}
				i++
			}
			reqs := float64(b.N * batch)
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(float64(cpu[0])/reqs, "without-cpu-ns/req")
			b.ReportMetric(float64(cpu[1])/reqs, "with-cpu-ns/req")
			b.ReportMetric(float64(cpu[1])/float64(cpu[0]), "with/without")
		})
	}
}

// tokenPayload returns the decoded claims of the access token in a token
// response.
func tokenPayload(b testing.TB, resp string) string {
	_, rest, _ := strings.Cut(resp, `"access_token":"`)
	tok, _, _ := strings.Cut(rest, `"`)
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		b.Fatalf("no token in %s", resp)
	}
	p, err := base64URL(parts[1])
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// benchServer is a full server whose components the endpoints share, with
// its background tasks running, and one client.
func benchServer(b *testing.B, dbURL string) (*server.Server, string, string) {
	b.Helper()
	cfg := server.Defaults()
	cfg.Addr, cfg.AdminAddr = "127.0.0.1:1", "127.0.0.1:2"
	cfg.Issuer = "https://authz.bench"
	cfg.Database = dbURL
	cfg.MasterKey = masterkey.Generate().String()
	cfg.Out = io.Discard
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, run := range []func(context.Context) error{srv.Directory.Run, srv.Audit.Run, srv.Status.Run} {
		go run(ctx)
	}
	b.Cleanup(func() {
		cancel()
		srv.Close()
	})
	now := time.Now()
	tn := store.Tenant{ID: store.NewID(store.PrefixTenant), Name: "bench", Status: store.StatusActive, CreatedAt: now, UpdatedAt: now, StatusChangedAt: now}
	p := store.Principal{ID: store.NewID(store.PrefixPrincipal), TenantID: tn.ID, Kind: store.KindService, DisplayName: "svc", Status: store.StatusActive, CreatedAt: now, UpdatedAt: now, StatusChangedAt: now}
	r := store.Role{ID: store.NewID(store.PrefixRole), TenantID: tn.ID, Name: "orders", Permissions: []string{"orders:read"}, CreatedAt: now, UpdatedAt: now}
	secret, s := srv.Secrets.New(now)
	c := store.Client{ID: store.NewID(store.PrefixClient), TenantID: tn.ID, OwnerID: p.ID, AuthMethod: store.AuthSecretBasic,
		Secrets: []store.ClientSecret{s}, GrantTypes: []string{store.GrantClientCredentials}, Status: store.StatusActive, CreatedAt: now, UpdatedAt: now, StatusChangedAt: now}
	st := srv.Store
	for _, err := range []error{
		st.CreateTenant(ctx, tn), st.CreatePrincipal(ctx, p), st.CreateRole(ctx, r),
		st.CreateBinding(ctx, store.Binding{PrincipalID: p.ID, RoleID: r.ID, TenantID: tn.ID, CreatedAt: now}),
		st.CreateClient(ctx, c),
	} {
		if err != nil {
			b.Fatal(err)
		}
	}
	// Let the directory confirm its generation so that reads are cached,
	// as they are in production.
	time.Sleep(time.Second)
	return srv, c.ID, secret
}

// BenchmarkPublishMillion builds, compresses and signs the list of
// 1,000,000 entries (keys of 1,000 owners, one suspended; 1% of the keys
// revoked; 0.1% of the epochs ended), in both kinds of build:
//
//   - publish/exceptions: the build Run makes but every FullScanInterval,
//     reading only the entries that may not be VALID;
//
//   - publish/full: the build that reads every entry;
//
//   - scan-only: the reference in the same run, reading every entry from
//     the store in the publisher's pages and nothing else.
//
//     go test -run '^$' -bench PublishMillion -benchtime 3x -timeout 60m ./statuslist/publisher
func BenchmarkPublishMillion(b *testing.B) {
	const n = 1_000_000
	for _, bk := range benchBackends {
		b.Run(bk.name, func(b *testing.B) {
			ctx := context.Background()
			dbURL := bk.url(b)
			st, err := backends.Open(ctx, dbURL, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { st.Close() })
			bulkInsert(b, bk.name, dbURL, n, time.Now())
			keys, err := jwks.NewManager(st, masterkey.Generate(), jwks.Config{})
			if err != nil {
				b.Fatal(err)
			}
			if err := keys.Init(ctx); err != nil {
				b.Fatal(err)
			}
			newPublisher := func(full time.Duration) *publisher.Publisher {
				p, err := publisher.New(st, keys, publisher.Config{Issuer: "https://authz.bench", FullScanInterval: full})
				if err != nil {
					b.Fatal(err)
				}
				return p
			}
			// The first build reads every entry and ends the epochs of the
			// revoked keys: 10,000 (in 10 transactions) of the 10,003, so
			// the second build reads every entry again and ends the rest.
			// Both run before the loops, which then see the same database;
			// the first is reported apart as first-build-s.
			p := newPublisher(0)
			start := time.Now()
			if err := p.Refresh(ctx); err != nil {
				b.Fatal(err)
			}
			first := time.Since(start)
			if err := p.Refresh(ctx); err != nil {
				b.Fatal(err)
			}

			b.Run("scan-only/page="+strconv.Itoa(publisher.DefaultPageSize), func(b *testing.B) {
				for b.Loop() {
					if got := scan(b, st, publisher.DefaultPageSize); got != n {
						b.Fatalf("scanned %d entries", got)
					}
				}
			})
			for _, c := range []struct {
				name string
				p    *publisher.Publisher
			}{{"full", newPublisher(time.Nanosecond)}, {"exceptions", p}} {
				b.Run("publish/"+c.name, func(b *testing.B) {
					for b.Loop() {
						// A generation move forces a re-sign, as a change would.
						now := time.Now()
						if err := st.CreateTenant(ctx, store.Tenant{ID: store.NewID(store.PrefixTenant), Name: store.NewID("t"), Status: store.StatusActive,
							CreatedAt: now, UpdatedAt: now, StatusChangedAt: now}); err != nil {
							b.Fatal(err)
						}
						if err := c.p.Refresh(ctx); err != nil {
							b.Fatal(err)
						}
					}
					b.StopTimer()
					b.ReportMetric(first.Seconds(), "first-build-s")
					checkMillion(b, keys, c.p, n)
				})
			}
		})
	}
}

// checkMillion verifies the list p serves and checks every entry of it.
func checkMillion(b *testing.B, keys *jwks.Manager, p *publisher.Publisher, n int64) {
	ctx := context.Background()
	rec := httptest.NewRecorder()
	p.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, publisher.PathList, nil))
	b.ReportMetric(float64(rec.Body.Len()), "token-bytes")
	claims, _, err := keys.Verify(ctx, rec.Body.String(), statuslist.TokenType)
	if err != nil {
		b.Fatal(err)
	}
	_, l, err := statuslist.ParseToken(claims, p.URI(), "https://authz.bench", time.Now(), 0)
	if err != nil {
		b.Fatal(err)
	}
	if l.Len() < n {
		b.Fatalf("list of %d entries", l.Len())
	}
	for i := range n {
		if got, _ := l.Get(i); got != bulkStatus(i) {
			b.Fatalf("entry %d is %v, want %v", i, got, bulkStatus(i))
		}
	}
}

// BenchmarkEncodeMillion is the publisher's own work for a million
// entries, without the store: deciding each entry, setting the bits,
// compressing and signing.
//
//	go test -run '^$' -bench EncodeMillion ./statuslist/publisher
func BenchmarkEncodeMillion(b *testing.B) {
	const n = 1_000_000
	now := time.Now()
	entries := make([]store.StatusEntry, n)
	for i := range entries {
		e := &entries[i]
		e.Idx, e.Credential = int64(i), "key:key_"+strconv.Itoa(i)
		e.CredentialStatus, e.OwnerStatus, e.TenantStatus = store.StatusActive, store.StatusActive, store.StatusActive
		switch bulkStatus(int64(i)) {
		case statuslist.Invalid:
			e.CredentialStatus = store.StatusRevoked
		case statuslist.Suspended:
			e.OwnerStatus = store.StatusSuspended
		}
	}
	ctx := context.Background()
	st := storetest.OpenSQLite(b)
	keys, err := jwks.NewManager(st, masterkey.Generate(), jwks.Config{})
	if err != nil {
		b.Fatal(err)
	}
	if err := keys.Init(ctx); err != nil {
		b.Fatal(err)
	}
	size := 0
	defer func() { b.ReportMetric(float64(size), "lst-bytes") }()
	for b.Loop() {
		l, err := statuslist.New(2, n+n/4)
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range entries {
			if s := publisher.Decide(e, now, time.Hour); s != statuslist.Valid {
				_ = l.Set(e.Idx, s)
			}
		}
		lst, err := l.Encode()
		if err != nil {
			b.Fatal(err)
		}
		size = len(lst)
		if _, err := keys.Sign(ctx, statuslist.Token{Subject: "https://authz.bench/statuslists/1", IssuedAt: now.Unix(),
			StatusList: statuslist.Encoded{Bits: 2, Lst: lst}}, statuslist.TokenType); err != nil {
			b.Fatal(err)
		}
	}
}

// scan reads every entry, as a build does, and does nothing with them.
func scan(b *testing.B, st store.Store, size int) int {
	n := 0
	for after := int64(-1); ; {
		page, err := st.ListStatusEntries(context.Background(), after, size)
		if err != nil {
			b.Fatal(err)
		}
		n += len(page)
		if len(page) < size {
			return n
		}
		after = page[len(page)-1].Idx
	}
}

// bulkStatus is the status bulkInsert gives entry i: scattered revoked
// keys (1%, by a multiplicative hash, so that the list compresses as a
// real one would), the keys of the suspended owner (every 1000th) and the
// ended epochs (every 1000th, offset 7).
func bulkStatus(i int64) statuslist.Status {
	switch {
	case i*2654435761%4294967296%100 == 50, i%1000 == 7:
		return statuslist.Invalid
	case i%1000 == 0:
		return statuslist.Suspended
	}
	return statuslist.Valid
}

// bulkInsert writes n legacy keys with one status entry each straight
// into the database (the store's API would take a transaction per
// allocation): 1,000 owners of which the first is suspended, every 100th
// key revoked, the epoch of every 1000th entry ending at ended.
func bulkInsert(b *testing.B, backend, dbURL string, n int, ended time.Time) {
	b.Helper()
	ctx := context.Background()
	last := strconv.Itoa(n - 1)
	switch backend {
	case "sqlite":
		db, err := sql.Open("sqlite", strings.TrimPrefix(dbURL, "sqlite:")+"?_pragma=busy_timeout(10000)")
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		seq := func(max string) string {
			return `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i+1 FROM n WHERE i < ` + max + `) `
		}
		for _, q := range []string{
			`INSERT INTO tenants (id, name, status, legacy_sunset_at, status_changed_at, status_changed_by, created_at, updated_at)
			 VALUES ('ten_bulk', 'bulk', 'active', NULL, 0, '', 0, 0)`,
			seq("999") + `INSERT INTO principals (id, tenant_id, kind, display_name, external_id, status, status_changed_at, status_changed_by, deleted_at, deleted_by, created_at, updated_at)
			 SELECT 'prn_' || i, 'ten_bulk', 'service', 'p', '', CASE WHEN i = 0 THEN 'suspended' ELSE 'active' END, 0, '', NULL, '', 0, 0 FROM n`,
			seq(last) + `INSERT INTO legacy_keys (id, hash, tenant_id, owner_id, owner_ref, scopes, label, environment, source, created_at, expires_at, status,
			   revoked_at, revoked_by, revoked_reason, rotated_from, last_used_at, use_count, expiry_notice_at, updated_at)
			 SELECT 'key_' || i, CAST('h' || i AS BLOB), 'ten_bulk', 'prn_' || (i % 1000), '', '[]', '', '', 'imported', 0, NULL,
			   CASE WHEN i * 2654435761 % 4294967296 % 100 = 50 THEN 'revoked' ELSE 'active' END,
			   CASE WHEN i * 2654435761 % 4294967296 % 100 = 50 THEN ` + strconv.FormatInt(ended.UnixMicro(), 10) + ` END, '', '', '', NULL, 0, NULL, 0 FROM n`,
			seq(last) + `INSERT INTO status_entries (idx, credential, kind, ref, allocated_at, invalidated_at)
			 SELECT i, 'key:key_' || i, 'key', 'key_' || i, 0, CASE WHEN i % 1000 = 7 THEN ` + strconv.FormatInt(ended.UnixMicro(), 10) + ` END FROM n`,
			`UPDATE status_alloc SET next_idx = ` + strconv.Itoa(n),
		} {
			if _, err := db.ExecContext(ctx, q); err != nil {
				b.Fatalf("%v: %s", err, q)
			}
		}
	case "postgres":
		conn, err := pgx.Connect(ctx, dbURL)
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close(ctx)
		for _, q := range []string{
			`INSERT INTO tenants (id, name, status, legacy_sunset_at, status_changed_at, status_changed_by, created_at, updated_at)
			 VALUES ('ten_bulk', 'bulk', 'active', NULL, now(), '', now(), now())`,
			`INSERT INTO principals (id, tenant_id, kind, display_name, external_id, status, status_changed_at, status_changed_by, deleted_at, deleted_by, created_at, updated_at)
			 SELECT 'prn_' || i, 'ten_bulk', 'service', 'p', '', CASE WHEN i = 0 THEN 'suspended' ELSE 'active' END, now(), '', NULL, '', now(), now()
			 FROM generate_series(0, 999) i`,
			`INSERT INTO legacy_keys (id, hash, tenant_id, owner_id, owner_ref, scopes, label, environment, source, created_at, expires_at, status,
			   revoked_at, revoked_by, revoked_reason, rotated_from, last_used_at, use_count, expiry_notice_at, updated_at)
			 SELECT 'key_' || i, int8send(i), 'ten_bulk', 'prn_' || (i % 1000), '', '[]', '', '', 'imported', now(), NULL,
			   CASE WHEN i * 2654435761 % 4294967296 % 100 = 50 THEN 'revoked' ELSE 'active' END,
			   CASE WHEN i * 2654435761 % 4294967296 % 100 = 50 THEN now() END, '', '', '', NULL, 0, NULL, now()
			 FROM generate_series(0, ` + last + `) i`,
			`INSERT INTO status_entries (idx, credential, kind, ref, allocated_at, invalidated_at)
			 SELECT i, 'key:key_' || i, 'key', 'key_' || i, now(), CASE WHEN i % 1000 = 7 THEN now() END FROM generate_series(0, ` + last + `) i`,
			`UPDATE status_alloc SET next_idx = ` + strconv.Itoa(n),
			`ANALYZE`,
		} {
			if _, err := conn.Exec(ctx, q); err != nil {
				b.Fatalf("%v: %s", err, q)
			}
		}
	}
}

// cpuTime is the process's user+system CPU time in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func base64URL(s string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	return string(b), err
}
