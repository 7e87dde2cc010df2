package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/authz/authz/admin"
	"github.com/authz/authz/alerts"
	"github.com/authz/authz/audit"
	"github.com/authz/authz/clientsecret"
	"github.com/authz/authz/directory"
	"github.com/authz/authz/errcode"
	"github.com/authz/authz/jwks"
	"github.com/authz/authz/legacykeys"
	"github.com/authz/authz/masterkey"
	"github.com/authz/authz/notify"
	"github.com/authz/authz/oauth"
	"github.com/authz/authz/offboarding"
	"github.com/authz/authz/outbound"
	"github.com/authz/authz/ratelimit"
	"github.com/authz/authz/reqmeta"
	"github.com/authz/authz/scim"
	"github.com/authz/authz/statuslist/publisher"
	"github.com/authz/authz/store"
	"github.com/authz/authz/store/backends"
	"github.com/authz/authz/usage"
)

// Server is a running authz: its store, its components and its listeners.
type Server struct {
	cfg Config
	log *slog.Logger

	Store     store.Store
	Keys      *jwks.Manager
	Directory *directory.Directory
	Audit     *audit.Recorder
	// Retainer exports and prunes the audit log on a schedule; nil
	// without --audit-retention.
	Retainer  *audit.Retainer
	Usage     *usage.Recorder
	Notifier  *notify.Notifier
	Legacy    *legacykeys.Service
	OAuth     *oauth.Server
	Secrets   *clientsecret.Hasher
	KeyHasher *legacykeys.Hasher
	Registry  *prometheus.Registry
	// Status publishes the Token Status List and gives tokens their
	// "status" claim.
	Status *publisher.Publisher
	// Lockout counts failed authentications per credential and source.
	Lockout *ratelimit.Lockout
	trusted reqmeta.TrustedProxies
	// Alerts are the built-in detectors (nil when disabled); Offboarding
	// suspends, resumes and deletes principals for every caller.
	Alerts      *alerts.Detectors
	Offboarding *offboarding.Service

	public, admin, metrics http.Handler
	// adminAPI is the admin API without the listener's middleware: the
	// console calls it in process. console is nil without --console-addr.
	adminAPI, console http.Handler
	http              httpMetrics
	// Bootstrap holds the generated bootstrap credentials when this start
	// created them (tests read them; serve prints them once).
	Bootstrap *Bootstrap

	closeOnce sync.Once
}

// New opens the store, migrates it, checks the master key, loads or
// creates the signing keys, bootstraps the admin client on first start and
// assembles every component. Nothing listens yet: call Run.
func New(ctx context.Context, cfg Config, log *slog.Logger) (_ *Server, err error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Out == nil {
		cfg.Out = os.Stdout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	st, err := backends.OpenWith(ctx, cfg.Database, backends.Options{Logger: log, ListenURL: cfg.DatabaseListenURL, Pooler: cfg.DatabasePooler})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			st.Close()
		}
	}()
	mk, err := loadMasterKey(ctx, cfg, st, log)
	if err != nil {
		return nil, err
	}

	s := &Server{cfg: cfg, log: log, Store: st, Registry: prometheus.NewRegistry()}
	// One audit event per change, inside the change's transaction.
	appendOne := func(ctx context.Context, tx store.Tx, ev store.AuditEvent) error { return audit.Append(ctx, tx, ev) }
	reg := s.Registry
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	registerPoolMetrics(reg, st)
	s.http = newHTTPMetrics(reg)

	s.Keys, err = jwks.NewManager(st, mk, jwks.Config{
		Alg:              cfg.SigningAlg,
		RotationPeriod:   cfg.RotationPeriod,
		CacheMaxAge:      cfg.JWKSMaxAge,
		MaxTokenLifetime: cfg.MaxTokenLifetime,
		Audit:            appendOne,
		Registerer:       reg,
		Logger:           log,
		Now:              cfg.Now,
	})
	if err != nil {
		return nil, err
	}
	if err := s.Keys.Init(ctx); err != nil {
		return nil, err
	}

	s.Secrets = clientsecret.NewHasher(mk.Derive(masterkey.PurposeClientSecrets))
	s.KeyHasher = legacykeys.NewHasher(mk.Derive(masterkey.PurposeLegacyKeys))
	legacyHasher := s.KeyHasher
	s.Directory = directory.New(st, directory.Config{Registerer: reg, Logger: log, Now: cfg.Now})
	s.Audit = audit.NewRecorder(st, audit.RecorderConfig{Registerer: reg, Logger: log, Now: cfg.Now})
	if cfg.AuditRetention > 0 {
		s.Retainer, err = audit.NewRetainer(st, audit.RetentionConfig{Keep: cfg.AuditRetention, Dir: cfg.AuditRetentionDir,
			Every: cfg.AuditRetentionEvery, Logger: log, Registerer: reg, Now: cfg.Now})
		if err != nil {
			return nil, err
		}
	}
	s.Usage = usage.NewRecorder(st, log, cfg.Now)
	webhookSecret := mk.Derive(masterkey.PurposeWebhooks)
	if cfg.WebhookSecret != "" {
		webhookSecret = []byte(cfg.WebhookSecret)
	}
	// Every request to an address chosen by someone else (a client's
	// jwks_uri, the webhook receiver) goes through one fetcher.
	fetcher := outbound.New(outbound.Config{Allow: cfg.outboundAllow, Logger: log})
	s.Notifier = notify.New(st, notify.Config{URL: cfg.WebhookURL, Secret: webhookSecret, PollInterval: cfg.WebhookPollInterval, Client: fetcher.Client(), Registerer: reg, Logger: log, Now: cfg.Now})
	s.Legacy = legacykeys.NewService(legacykeys.ServiceConfig{
		Store: st, Hasher: legacyHasher, Audit: appendOne, Notifier: s.Notifier,
		ExpiryNotice: cfg.ExpiryNotice, Logger: log, Now: cfg.Now,
	})

	// Token Status List: every access token refers to its credential's
	// index in the list published at /statuslists/1.
	s.Status, err = publisher.New(st, s.Keys, publisher.Config{
		Issuer: cfg.Issuer, MaxTokenLifetime: cfg.MaxTokenLifetime,
		TTL: cfg.StatusListTTL, Validity: cfg.StatusListValidity,
		Registerer: reg, Logger: log, Now: cfg.Now,
	})
	if err != nil {
		return nil, err
	}

	// Failures are counted in the store, so that replicas share one
	// lockout; locks are read back every LockoutSyncInterval.
	s.Lockout = ratelimit.NewLockout(ratelimit.LockoutConfig{
		Threshold: cfg.LockoutThreshold, PrefixThreshold: cfg.LockoutPrefixThreshold,
		AlertThreshold: cfg.LockoutAlertThreshold, LockWeak: cfg.LockoutWeakKeys,
		Window: cfg.LockoutWindow, Duration: cfg.LockoutDuration,
		Shared: st, Logger: log, Now: cfg.Now,
	})
	s.trusted, _ = reqmeta.ParseTrustedProxies(cfg.TrustedProxies) // validated in cfg.validate
	var observer oauth.Observer
	var watcher offboarding.Watcher
	if !cfg.DisableAlerts {
		s.Alerts, err = alerts.New(alerts.Config{
			Store: st, Notifier: s.Notifier, NetworkAction: cfg.AlertNewNetworkAction,
			SpikeMinCount: cfg.AlertRefusalMin, SpikeWindow: cfg.AlertRefusalWindow, BurstMaxPrincipals: cfg.AlertBurstPrincipals,
			Changed: s.Directory.Invalidate, Registerer: reg, Logger: log, Now: cfg.Now,
		})
		if err != nil {
			return nil, err
		}
		observer, watcher = s.Alerts, s.Alerts
	}
	s.Offboarding = offboarding.New(offboarding.Config{
		Store: st, Notifier: s.Notifier, Watcher: watcher, TokenWindow: cfg.MaxTokenLifetime,
		View: admin.PrincipalAuditView, Now: cfg.Now,
	})

	s.OAuth, err = oauth.New(oauth.Config{
		Issuer:           cfg.Issuer,
		TokenLifetime:    cfg.TokenLifetime,
		MaxTokenLifetime: cfg.MaxTokenLifetime,
		Logger:           log,
		Registerer:       reg,
		Now:              cfg.Now,
	}, oauth.Deps{
		Store:        st,
		Directory:    s.Directory,
		Signer:       s.Keys.Signer(),
		Verifier:     s.Keys,
		SigningAlgs:  s.Keys.Algs(),
		JWKS:         s.Keys,
		Secrets:      s.Secrets,
		LegacyHasher: legacyHasher,
		Audit:        s.Audit,
		AuditAppend:  audit.Append,
		Usage:        s.Usage,
		Limiter: ratelimit.New(ratelimit.Config{
			PerAddr: cfg.RateLimitAddr, PerClient: cfg.RateLimitClient, PerKey: cfg.RateLimitKey,
			Burst: cfg.RateLimitBurst, Now: cfg.Now,
		}),
		Lockout:  s.Lockout,
		Status:   s.Status,
		Observer: observer,
		Outbound: fetcher,
	})
	if err != nil {
		return nil, err
	}

	s.Bootstrap, err = bootstrap(ctx, st, s.Secrets, cfg, log)
	if err != nil {
		return nil, err
	}
	s.public = s.publicHandler()
	if err := s.buildConsole(); err != nil {
		return nil, err
	}
	s.admin = s.adminHandler()
	s.metrics = s.metricsHandler()
	return s, nil
}

// loadMasterKey resolves the master key and checks it against the one the
// database was created with, before anything sealed is touched.
func loadMasterKey(ctx context.Context, cfg Config, st store.Store, log *slog.Logger) (masterkey.Key, error) {
	var mk masterkey.Key
	switch {
	case cfg.MasterKey != "":
		k, err := masterkey.Parse(cfg.MasterKey)
		if err != nil {
			return mk, fmt.Errorf("AUTHZ_MASTER_KEY: %w", err)
		}
		mk = k
	default:
		path, ok := sqlitePath(cfg.Database)
		if !ok {
			return mk, errors.New("AUTHZ_MASTER_KEY is required with PostgreSQL: every replica must use the same key (generate one with: openssl rand -hex 32)")
		}
		keyPath := path + ".master-key"
		k, created, err := masterkey.LoadOrCreateFile(keyPath)
		if err != nil {
			return mk, err
		}
		if created {
			log.Warn("no AUTHZ_MASTER_KEY: generated one into a file beside the database; production must set AUTHZ_MASTER_KEY and keep it apart from the data", "file", keyPath)
		} else {
			log.Warn("no AUTHZ_MASTER_KEY: using the key file beside the database; production must set AUTHZ_MASTER_KEY", "file", keyPath)
		}
		mk = k
	}
	check, err := st.SetSettingIfAbsent(ctx, "master_key_check", mk.CheckValue())
	if err != nil {
		return mk, fmt.Errorf("master key check: %w", err)
	}
	if err := mk.Verify(check); err != nil {
		return mk, errors.New("the master key differs from the one this database was created with: set AUTHZ_MASTER_KEY (or the key file beside an SQLite database) to the original key; nothing was changed")
	}
	return mk, nil
}

// publicHandler serves SPEC §3's public API (SCIM included) and health;
// never metrics, which name tenants (metricsHandler).
func (s *Server) publicHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", s.OAuth.Handler())
	mux.Handle(publisher.PathList, s.Status)
	mux.Handle(publisher.PathAggregation, s.Status)
	mux.Handle(scim.Prefix+"/", s.scimHandler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", s.serveReady)
	return s.middleware("public", mux)
}

// metricsHandler serves /metrics (and /healthz, for the scraper's own
// check) on the metrics listener; everything else is 404 JSON.
func (s *Server) metricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	if s.cfg.Profile {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		errcode.Write(w, s.log, errcode.New(errcode.NotFound, "The metrics listener serves GET /metrics and GET /healthz only."))
	})
	return s.middleware("metrics", mux)
}

// serveReady answers 200 only when the database answers and a signing key
// is loaded: a load balancer then never sends traffic that would fail.
func (s *Server) serveReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := s.Store.Ping(ctx); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("database unreachable\n"))
		return
	}
	if !s.Keys.Ready() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("no signing key loaded\n"))
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

// Handler returns the public handler (for in-process tests).
func (s *Server) Handler() http.Handler { return s.public }

// AdminHandler returns the admin API handler (for in-process tests).
func (s *Server) AdminHandler() http.Handler { return s.admin }

// MetricsHandler returns the metrics listener's handler (for in-process
// tests).
func (s *Server) MetricsHandler() http.Handler { return s.metrics }

// Listeners are the sockets Serve serves; Metrics and Console are
// optional (nil: that listener is off).
type Listeners struct {
	Public, Admin net.Listener
	// Metrics serves /metrics; without it metrics are not served at all.
	Metrics net.Listener
	// Console serves the web console (Config.ConsoleAddr).
	Console net.Listener
}

// Run serves the public and admin listeners and, if given (at most one),
// the metrics listener: Serve for the callers that have no console.
func (s *Server) Run(ctx context.Context, public, admin net.Listener, metrics ...net.Listener) error {
	if len(metrics) > 1 {
		return errors.New("server: at most one metrics listener")
	}
	ls := Listeners{Public: public, Admin: admin}
	if len(metrics) == 1 {
		ls.Metrics = metrics[0]
	}
	return s.Serve(ctx, ls)
}

// Serve starts the background tasks and the listeners, and serves until ctx
// ends; then it stops accepting, lets in-flight requests finish, flushes
// the audit and usage buffers and closes the store.
func (s *Server) Serve(ctx context.Context, ls Listeners) error {
	public, admin := ls.Public, ls.Admin
	bg, bgCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer bgCancel()
	var tasks errgroup.Group
	for name, run := range map[string]func(context.Context) error{
		"directory":  s.Directory.Run,
		"jwks":       s.Keys.Run,
		"audit":      s.Audit.Run,
		"notify":     s.Notifier.Run,
		"usage":      func(ctx context.Context) error { return s.Usage.Run(ctx, 5*time.Second) },
		"janitor":    s.janitor,
		"statuslist": s.Status.Run,
		"lockout":    func(ctx context.Context) error { return s.Lockout.Run(ctx, s.cfg.LockoutSyncInterval) },
		"alerts": func(ctx context.Context) error {
			if s.Alerts == nil {
				return nil
			}
			return s.Alerts.Run(ctx)
		},
		// Daily counts by holder state (issue 19), kept a year.
		"migration_history": s.Legacy.RunHistory,
		"audit_retention": func(ctx context.Context) error {
			if s.Retainer == nil {
				return nil
			}
			return s.Retainer.Run(ctx)
		},
	} {
		tasks.Go(func() error {
			if err := run(bg); err != nil && !errors.Is(err, context.Canceled) {
				s.log.Error("background task stopped", "task", name, "err", err)
			}
			return nil
		})
	}

	servers := []*http.Server{newHTTPServer(s.public, s.log), newHTTPServer(s.admin, s.log)}
	listeners := []net.Listener{public, admin}
	metricsAddr := "off"
	if ls.Metrics != nil {
		servers = append(servers, newHTTPServer(s.metrics, s.log))
		listeners = append(listeners, ls.Metrics)
		metricsAddr = ls.Metrics.Addr().String()
	}
	if ls.Console != nil && s.console != nil {
		servers = append(servers, newHTTPServer(s.console, s.log))
		listeners = append(listeners, ls.Console)
		s.log.Info("web console serving", "console_addr", ls.Console.Addr().String(), "console_url", s.cfg.ConsoleURL)
	}
	errc := make(chan error, len(servers))
	for i, srv := range servers {
		go func() {
			if err := srv.Serve(listeners[i]); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	}
	s.log.Info("authz serving", "addr", public.Addr().String(), "admin_addr", admin.Addr().String(), "metrics_addr", metricsAddr,
		"issuer", s.cfg.Issuer, "database", s.Store.Backend())

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	s.log.Info("shutting down: finishing in-flight requests")
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	for _, srv := range servers {
		if err := srv.Shutdown(shutCtx); err != nil {
			s.log.Warn("shutdown incomplete", "err", err)
		}
	}
	// Requests are done: everything they queued must reach the database.
	if err := s.Audit.Close(shutCtx); err != nil {
		s.log.Error("flushing audit log", "err", err)
	}
	if err := s.Usage.Flush(shutCtx); err != nil {
		s.log.Error("flushing key usage", "err", err)
	}
	bgCancel()
	_ = tasks.Wait()
	s.Close()
	return serveErr
}

// Close releases the store. Run calls it; tests that never Run call it.
func (s *Server) Close() {
	s.closeOnce.Do(func() { _ = s.Store.Close() })
}

// janitor purges expired assertion jtis, revocations and old webhooks, and
// scans legacy key expiry for notices. (Status-list indices are freed by
// the publisher's own Run.)
func (s *Server) janitor(ctx context.Context) error {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for tick := 0; ; tick++ {
		if tick%60 == 0 { // hourly: the audit partitions of the days ahead
			if err := s.Store.PrepareAudit(ctx, s.cfg.Now()); err != nil {
				s.log.Warn("janitor: preparing audit storage failed", "err", err)
			}
		}
		if n, err := s.Store.PurgeExpired(ctx, s.cfg.Now()); err != nil {
			s.log.Warn("janitor: purge failed", "err", err)
		} else if n > 0 {
			s.log.Debug("janitor: purged expired rows", "rows", n)
		}
		if err := s.Legacy.ScanExpiry(ctx); err != nil {
			s.log.Warn("janitor: key expiry scan failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler: h,
		// A slow client cannot hold a connection forever.
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

func registerPoolMetrics(reg prometheus.Registerer, st store.Store) {
	g := func(name, help string, f func(store.PoolStats) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return f(st.PoolStats()) })
	}
	reg.MustRegister(
		g("authz_db_connections_open", "Open database connections.", func(p store.PoolStats) float64 { return float64(p.Open) }),
		g("authz_db_connections_in_use", "Database connections in use.", func(p store.PoolStats) float64 { return float64(p.InUse) }),
		g("authz_db_connections_idle", "Idle database connections.", func(p store.PoolStats) float64 { return float64(p.Idle) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "authz_db_wait_total", Help: "Times a request waited for a database connection."},
			func() float64 { return float64(st.PoolStats().WaitCount) }),
	)
}
