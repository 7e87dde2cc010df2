package console

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/authz/authz/admin"
	"github.com/authz/authz/errcode"
	"github.com/authz/authz/policy"
	"github.com/authz/authz/store"
	"github.com/prometheus/client_golang/prometheus"
)

//go:embed assets templates
var files embed.FS

// Config is what the console is built from.
type Config struct {
	Store store.Store
	// Admin is the admin API handler (admin.New), called in process.
	Admin http.Handler
	// Links makes the sign-in links (shared with the admin API).
	Links *Links
	// BaseURL is the console's URL as browsers reach it; https makes the
	// session cookie Secure.
	BaseURL string
	// Issuer is the token endpoint's base URL, for the curl lines.
	Issuer string
	// IdleTimeout ends a session unused this long (default 30 minutes);
	// MaxAge ends any session this long after sign-in (default 12 hours).
	IdleTimeout time.Duration
	MaxAge      time.Duration
	Logger      *slog.Logger
	Now         func() time.Time
	// Metrics is the server's Prometheus registry; the refusals page shows
	// its authz_token_requests_total refused series to global
	// administrators. Nil leaves that table out.
	Metrics prometheus.Gatherer
	// OIDC, when set, adds sign-in through an OpenID Connect provider.
	OIDC *OIDC
}

// Console serves the web console.
type Console struct {
	cfg    Config
	origin string
	secure bool
	cookie string
	pages  map[string]*template.Template
	log    *slog.Logger
	now    func() time.Time
	oidc   *oidcSignin // nil without OIDC sign-in
}

// New returns the console.
func New(cfg Config) (*Console, error) {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("console: URL %q: want http(s)://host[:port]", cfg.BaseURL)
	}
	c := &Console{cfg: cfg, origin: u.Scheme + "://" + u.Host, secure: u.Scheme == "https", log: cfg.Logger, now: cfg.Now}
	c.cookie = "authz_console"
	if c.secure {
		// __Host-: the browser accepts it only Secure, on path /, without a
		// Domain, so a sibling subdomain cannot plant or overwrite it.
		c.cookie = "__Host-authz_console"
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.cfg.IdleTimeout <= 0 {
		c.cfg.IdleTimeout = 30 * time.Minute
	}
	if c.cfg.MaxAge <= 0 {
		c.cfg.MaxAge = 12 * time.Hour
	}
	if c.pages, err = parsePages(); err != nil {
		return nil, err
	}
	if o := cfg.OIDC; o != nil {
		if iu, err := url.Parse(o.Issuer); err != nil || (iu.Scheme != "https" && iu.Scheme != "http") || iu.Host == "" {
			return nil, fmt.Errorf("console: OIDC issuer %q: want http(s)://host[/path]", o.Issuer)
		}
		if o.ClientID == "" {
			return nil, errors.New("console: OIDC sign-in needs a client id")
		}
		oc := *o
		if oc.Claim == "" {
			oc.Claim = "sub"
		}
		c.oidc = &oidcSignin{cfg: oc, redirect: strings.TrimRight(cfg.BaseURL, "/") + "/oidc/callback", now: c.now}
	}
	return c, nil
}

// Handler returns the console's routes.
func (c *Console) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(files, "assets")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /signin", c.signinPage)
	mux.HandleFunc("POST /signin", c.signin)
	mux.HandleFunc("POST /signout", c.page(c.signout))
	if c.oidc != nil {
		mux.HandleFunc("GET /oidc/start", c.oidcStart)
		mux.HandleFunc("GET /oidc/callback", c.oidcCallback)
	}
	mux.HandleFunc("GET /{$}", c.page(c.home))
	mux.HandleFunc("GET /keys", c.page(c.myKeys))
	mux.HandleFunc("GET /keys/{id}", c.page(c.keyPage))
	mux.HandleFunc("GET /clients", c.page(c.myClients))
	mux.HandleFunc("POST /clients", c.page(c.createClient))
	mux.HandleFunc("POST /clients/{id}/rotate", c.page(c.rotateClient))
	mux.HandleFunc("GET /usage", c.page(c.usage))
	mux.HandleFunc("GET /dashboard", c.page(c.dashboard))
	mux.HandleFunc("GET /orphans", c.page(c.orphans))
	mux.HandleFunc("GET /orphans/{id}/{action}", c.page(c.confirmOrphan))
	mux.HandleFunc("POST /orphans/{id}/{action}", c.page(c.actOrphan))
	mux.HandleFunc("GET /principals/{id}", c.page(c.principalPage))
	mux.HandleFunc("GET /principals/{id}/{action}", c.page(c.confirmPrincipal))
	mux.HandleFunc("POST /principals/{id}/{action}", c.page(c.actPrincipal))
	mux.HandleFunc("GET /audit", c.page(c.auditPage))
	mux.HandleFunc("GET /refusals", c.page(c.refusals))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		c.fail(w, r, nil, errcode.New(errcode.NotFound, "There is no such page. Use the menu to find what you are looking for."))
	})
	return c.headers(mux)
}

// headers sets what every answer carries: a CSP without inline script,
// no framing, no referrer to other sites (the sign-in URL carries a code; "no-referrer" would make browsers send "Origin: null" on our own forms), no caching.
func (c *Console) headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		if !strings.HasPrefix(r.URL.Path, "/static/") {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

// session is a signed-in request.
type session struct {
	Hash      string
	CSRF      string
	Principal store.Principal
	Caller    admin.Caller
	Access    admin.Access
	// Notice, if set, is shown on every page (a suspended principal).
	Notice string
}

// csrfToken derives the session's CSRF token from its secret: another
// session's token never matches, and nothing more is stored.
func csrfToken(secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("authz console csrf"))
	return hex.EncodeToString(m.Sum(nil))
}

var errSignedOut = errcode.New(errcode.TokenInvalid, "You are not signed in, or your session has ended. Ask an administrator for a new sign-in link (authz console link --principal <your principal id>).")

// load finds the request's session, checks its expiry and its principal,
// and moves its idle clock.
func (c *Console) load(r *http.Request) (*session, error) {
	ck, err := r.Cookie(c.cookie)
	if err != nil || ck.Value == "" {
		return nil, errSignedOut
	}
	ctx := r.Context()
	hash := hashSecret(ck.Value)
	cs, err := c.cfg.Store.GetConsoleSession(ctx, hash)
	if errors.Is(err, store.ErrNotFound) || (err == nil && cs.Kind != store.ConsoleSessionKind) {
		return nil, errSignedOut
	}
	if err != nil {
		return nil, err
	}
	now := c.now()
	if !now.Before(cs.ExpiresAt) || !now.Before(cs.LastSeenAt.Add(c.cfg.IdleTimeout)) {
		_ = c.cfg.Store.DeleteConsoleSession(ctx, hash)
		return nil, errSignedOut
	}
	s, err := c.principalSession(ctx, cs.PrincipalID)
	if err != nil {
		return nil, err
	}
	s.Hash, s.CSRF = hash, csrfToken(ck.Value)
	// Touch at most once a minute: one write per page, not per asset.
	if now.Sub(cs.LastSeenAt) > time.Minute {
		if err := c.cfg.Store.TouchConsoleSession(ctx, hash, now.UTC().Truncate(time.Microsecond)); err != nil {
			c.log.WarnContext(ctx, "console: touching session", "err", err)
		}
	}
	return s, nil
}

// principalSession is what the principal may do now: its roles'
// permissions, as of this request (a role unbound a second ago counts).
func (c *Console) principalSession(ctx context.Context, id string) (*session, error) {
	p, err := c.cfg.Store.GetPrincipal(ctx, id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, errSignedOut
		}
		return nil, err
	}
	if p.Status == store.StatusDeleted {
		return nil, errcode.Newf(errcode.Forbidden, "Your principal %s was deleted, so it cannot use the console.", p.ID)
	}
	t, err := c.cfg.Store.GetTenant(ctx, p.TenantID)
	if err != nil {
		return nil, err
	}
	var perms []string
	notice := ""
	switch {
	case p.Status != store.StatusActive:
		// A suspended holder may still look at its own keys (that is how
		// it learns why they are refused), but holds no admin power.
		notice = "Your principal is " + string(p.Status) + ": its keys and clients are refused, and you can only look at your own objects. An administrator can resume it."
	case t.Status != store.StatusActive:
		notice = "Your tenant " + t.Name + " is " + string(t.Status) + ": its keys and clients are refused, and you can only look at your own objects."
	default:
		roles, err := c.cfg.Store.RolesOfPrincipal(ctx, p.ID)
		if err != nil {
			return nil, err
		}
		perms = policy.Permissions(roles)
	}
	caller := admin.Caller{Subject: p.ID, TenantID: p.TenantID, Scopes: perms, Actor: "console:" + p.ID, Self: true}
	acc, err := admin.Decide(caller, false)
	if err != nil {
		return nil, err
	}
	return &session{Principal: p, Caller: caller, Access: acc, Notice: notice}, nil
}

// handlerFunc is a page handler of a signed-in session.
type handlerFunc func(w http.ResponseWriter, r *http.Request, s *session) error

// page wraps a handler: the session, the CSRF and origin checks of every
// POST, and the one error page.
func (c *Console) page(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, err := c.load(r)
		if err == nil && r.Method != http.MethodGet {
			err = c.checkPost(r, s)
		}
		if err == nil {
			err = h(w, r, s)
		}
		if err != nil {
			c.fail(w, r, s, err)
		}
	}
}

// maxForm bounds a console form: they are a few short fields.
const maxForm = 64 << 10

// checkPost refuses a state-changing request from another origin or
// without this session's CSRF token.
func (c *Console) checkPost(r *http.Request, s *session) error {
	if err := c.checkOrigin(r); err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(nil, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		return errcode.New(errcode.RequestInvalid, "The form could not be read. Reload the page and try again.")
	}
	if got := r.PostForm.Get("csrf"); !hmac.Equal([]byte(got), []byte(s.CSRF)) {
		return errcode.New(errcode.Forbidden, "This form is not from your current session (missing or wrong CSRF token). Reload the page and submit it again.")
	}
	return nil
}

// checkOrigin refuses a POST whose Origin (or, lacking one, whose
// Sec-Fetch-Site) says it comes from another site.
func (c *Console) checkOrigin(r *http.Request) error {
	if o := r.Header.Get("Origin"); o != "" {
		if o != c.origin {
			return errcode.Newf(errcode.Forbidden, "This request comes from %s, not from the console (%s); it was refused.", o, c.origin)
		}
		return nil
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return errcode.New(errcode.Forbidden, "This request comes from another site; it was refused.")
	}
	return nil
}

// call runs one admin API operation in process as the session's
// principal and decodes its answer into out. A refusal comes back as the
// *errcode.Error the admin API answered, with its code.
func (c *Console) call(ctx context.Context, s *session, method, path string, query url.Values, in, out any) error {
	var body io.Reader = http.NoBody
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	target := admin.Prefix + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(admin.WithCaller(ctx, s.Caller), method, target, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := &recorder{header: http.Header{}}
	c.cfg.Admin.ServeHTTP(rec, req)
	if rec.status >= 300 {
		var eb errcode.Body
		if json.Unmarshal(rec.body.Bytes(), &eb) != nil || eb.Code == "" {
			return fmt.Errorf("console: admin API %s %s answered %d", method, path, rec.status)
		}
		return errcode.New(eb.Code, eb.Description)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(rec.body.Bytes(), out)
}

// recorder is the in-process response of an admin API call.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}

// fail answers an error page: what went wrong and what to do, with the
// code's status. Storage and programming errors are logged; the page then
// names only the request.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, s *session, err error) {
	e := errcode.Normalize(err)
	status := errcode.Lookup(e.Code).Status
	msg := e.Description
	if msg == "" {
		msg = errcode.Lookup(e.Code).Remedy
	}
	if status >= 500 && !errors.Is(err, errOIDCUnavailable) {
		c.log.ErrorContext(r.Context(), "console: request failed", "path", r.URL.Path, "err", err)
		msg = errcode.Lookup(e.Code).Remedy
	}
	title := map[int]string{400: "That request was not valid", 401: "Please sign in", 403: "Not allowed", 404: "Not found", 409: "Conflict"}[status]
	if title == "" {
		title = "Something went wrong"
	}
	if status == http.StatusUnauthorized {
		// A browser shows the page; there is no HTTP authentication to offer.
		status = http.StatusForbidden
	}
	hint := map[int]string{
		400: "Correct the form and submit it again; nothing was changed.",
		403: "Nothing was changed. If you need this, ask an administrator for the permission.",
		404: "Check the id, or find the object from the lists in the menu (objects you may not see are not found). Nothing was changed.",
		409: "Nothing was changed; reload the page to see the object as it is now.",
	}[status]
	if strings.HasPrefix(r.URL.Path, "/oidc/") && status == http.StatusForbidden {
		// A refused sign-in is not a missing permission.
		hint = "Nothing was changed, and you are not signed in."
	}
	c.render(w, r, s, status, "error", map[string]any{"Title": title, "Message": msg, "Hint": hint, "Code": string(e.Code), "Status": status, "OIDC": c.oidc != nil})
}

// render executes a page inside the layout.
func (c *Console) render(w http.ResponseWriter, r *http.Request, s *session, status int, name string, data map[string]any) {
	t, ok := c.pages[name]
	if !ok {
		panic("console: no page " + name)
	}
	if data == nil {
		data = map[string]any{}
	}
	data["S"] = s
	data["Path"] = r.URL.Path
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", data); err != nil {
		c.log.ErrorContext(r.Context(), "console: rendering", "page", name, "err", err)
		http.Error(w, "The page could not be rendered; the server log has the details.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// signinPage shows the button that spends a link; GET itself changes
// nothing, so link previews cannot sign anyone in or spend the link.
func (c *Console) signinPage(w http.ResponseWriter, r *http.Request) {
	code := r.URL.Query().Get("code")
	if code == "" && c.oidc == nil {
		c.fail(w, r, nil, errcode.New(errcode.RequestInvalid, "This sign-in URL has no code. Ask an administrator for a new link: authz console link --principal <your principal id>."))
		return
	}
	c.render(w, r, nil, http.StatusOK, "signin", map[string]any{"Code": code, "OIDC": c.oidc != nil})
}

// signin spends a link and starts a session, in one transaction with the
// console.signin audit event.
func (c *Console) signin(w http.ResponseWriter, r *http.Request) {
	err := c.checkOrigin(r)
	if err == nil {
		r.Body = http.MaxBytesReader(nil, r.Body, maxForm)
		if r.ParseForm() != nil || r.PostForm.Get("code") == "" {
			err = errcode.New(errcode.RequestInvalid, "The sign-in form had no code. Open your sign-in link again.")
		}
	}
	var secret string
	if err == nil {
		secret, err = c.startSession(r.Context(), r.PostForm.Get("code"))
	}
	if err != nil {
		c.fail(w, r, nil, err)
		return
	}
	c.setSession(w, secret)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// setSession sets the session cookie.
func (c *Console) setSession(w http.ResponseWriter, secret string) {
	http.SetCookie(w, &http.Cookie{
		Name: c.cookie, Value: secret, Path: "/", HttpOnly: true, Secure: c.secure,
		SameSite: http.SameSiteStrictMode, MaxAge: int(c.cfg.MaxAge.Seconds()),
	})
}

var errLinkSpent = errcode.New(errcode.NotFound, "This sign-in link is unknown, was already used, or has expired. Links work once, for a short time; ask an administrator for a new one (authz console link --principal <your principal id>).")

func (c *Console) startSession(ctx context.Context, code string) (string, error) {
	secret := newSecret()
	now := c.now().UTC().Truncate(time.Microsecond)
	err := c.cfg.Store.Tx(ctx, func(tx store.Tx) error {
		link, err := tx.ConsumeConsoleLink(ctx, hashSecret(code))
		if errors.Is(err, store.ErrNotFound) {
			return errLinkSpent
		}
		if err != nil {
			return err
		}
		if !now.Before(link.ExpiresAt) {
			return errLinkSpent
		}
		p, err := tx.GetPrincipal(ctx, link.PrincipalID)
		if err != nil {
			return errLinkSpent
		}
		return c.createSession(ctx, tx, p, secret, now, nil)
	})
	// An expired link was consumed but the transaction rolled back: it
	// stays, harmless, until the janitor purges it.
	return secret, err
}

func (c *Console) signout(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := c.cfg.Store.DeleteConsoleSession(r.Context(), s.Hash); err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: c.cookie, Value: "", Path: "/", HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	c.render(w, r, nil, http.StatusOK, "signedout", nil)
	return nil
}
