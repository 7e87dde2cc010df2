package console

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/authz/authz/audit"
	"github.com/authz/authz/errcode"
	"github.com/authz/authz/store"
)

// OIDC is the optional sign-in through an upstream OpenID Connect
// provider (serve --console-oidc-issuer, --console-oidc-client-id,
// --console-oidc-client-secret, --console-oidc-claim).
type OIDC struct {
	// Issuer is the provider's issuer URL; its discovery document is
	// Issuer + "/.well-known/openid-configuration".
	Issuer       string
	ClientID     string
	ClientSecret string
	// Claim is the ID token claim matched against a principal's
	// external_id (default "sub").
	Claim string
	// HTTPClient makes every request to the provider (discovery, JWKS,
	// token endpoint): the outbound package's, so that the SSRF rules and
	// --outbound-allow-cidr apply.
	HTTPClient *http.Client
}

// oidcFlowCookie carries one sign-in attempt's secret from the start to
// the callback. SameSite=Lax, not Strict: the provider's redirect back is
// a cross-site navigation, which a Strict cookie would not follow.
const oidcFlowCookie = "authz_console_oidc"

// oidcFlowAge bounds a sign-in at the provider.
const oidcFlowAge = 10 * time.Minute

// oidcSignin holds the provider, discovered on first use and kept: a
// provider that is down when authz starts does not stop the console (or
// the link sign-in), it only fails the OIDC sign-ins until it is back.
type oidcSignin struct {
	cfg      OIDC
	redirect string
	now      func() time.Time
	mu       sync.Mutex
	provider *oidc.Provider
}

func (o *oidcSignin) discover(ctx context.Context) (*oidc.Provider, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.provider != nil {
		return o.provider, nil
	}
	p, err := oidc.NewProvider(o.clientCtx(ctx), o.cfg.Issuer)
	if err != nil {
		return nil, err
	}
	o.provider = p
	return p, nil
}

// clientCtx makes go-oidc and x/oauth2 use the outbound client.
func (o *oidcSignin) clientCtx(ctx context.Context) context.Context {
	if o.cfg.HTTPClient == nil {
		return ctx
	}
	ctx = oidc.ClientContext(ctx, o.cfg.HTTPClient)
	return context.WithValue(ctx, oauth2.HTTPClient, o.cfg.HTTPClient)
}

func (o *oidcSignin) oauth2(p *oidc.Provider) *oauth2.Config {
	return &oauth2.Config{
		ClientID: o.cfg.ClientID, ClientSecret: o.cfg.ClientSecret, Endpoint: p.Endpoint(),
		RedirectURL: o.redirect, Scopes: []string{oidc.ScopeOpenID},
	}
}

// flowValue derives one value of a sign-in attempt from its secret (the
// flow cookie): the state, the nonce and the PKCE verifier. The cookie is
// all the server keeps, so any replica can finish the sign-in, and the
// state and nonce, which travel through the browser and the provider,
// tell nothing of the verifier (SHA-256 of 256 random bits and a label).
func flowValue(secret, label string) string {
	h := sha256.Sum256([]byte(label + "\x00" + secret))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

var errOIDCUnavailable = errcode.New(errcode.Unavailable, "The identity provider could not be reached, or its answer was not usable. Try again in a minute; an administrator finds the reason in the server log. A one-time link (authz console link --principal <your principal id>) still works.")

// oidcStart sends the browser to the provider: authorization-code flow
// with PKCE (S256), a state bound to this browser by the flow cookie, and
// a nonce the ID token must carry.
func (c *Console) oidcStart(w http.ResponseWriter, r *http.Request) {
	p, err := c.oidc.discover(r.Context())
	if err != nil {
		c.log.WarnContext(r.Context(), "console: OIDC discovery failed", "issuer", c.oidc.cfg.Issuer, "err", err)
		c.fail(w, r, nil, errOIDCUnavailable)
		return
	}
	secret := newSecret()
	http.SetCookie(w, &http.Cookie{
		Name: c.flowCookie(), Value: secret, Path: "/oidc/", HttpOnly: true, Secure: c.secure,
		SameSite: http.SameSiteLaxMode, MaxAge: int(oidcFlowAge.Seconds()),
	})
	u := c.oidc.oauth2(p).AuthCodeURL(flowValue(secret, "state"),
		oauth2.S256ChallengeOption(flowValue(secret, "pkce")), oidc.Nonce(flowValue(secret, "nonce")))
	http.Redirect(w, r, u, http.StatusFound)
}

func (c *Console) flowCookie() string {
	if c.secure {
		return "__Secure-" + oidcFlowCookie // Path /oidc/ rules out __Host-
	}
	return oidcFlowCookie
}

// oidcRefused is a refused sign-in: 403, with what to do.
func oidcRefused(format string, args ...any) error {
	return errcode.Newf(errcode.Forbidden, format, args...)
}

// oidcCallback finishes the sign-in: the state against the flow cookie,
// the code exchanged with the PKCE verifier, the ID token verified
// (signature against the provider's JWKS, iss, aud, exp, then the nonce),
// and the configured claim matched against exactly one principal's
// external_id. The session starts in one transaction with its audit event.
func (c *Console) oidcCallback(w http.ResponseWriter, r *http.Request) {
	value, err := c.oidcIdentity(r)
	var p store.Principal
	if err == nil {
		p, err = c.oidcPrincipal(r.Context(), value)
	}
	var session string
	if err == nil {
		session, err = c.newSession(r.Context(), p, map[string]any{"method": "oidc", "issuer": c.oidc.cfg.Issuer, "claim": c.oidc.cfg.Claim, "value": value})
	}
	// The attempt is over, whatever its outcome: its cookie goes.
	http.SetCookie(w, &http.Cookie{Name: c.flowCookie(), Value: "", Path: "/oidc/", HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteLaxMode, MaxAge: -1})
	if err != nil {
		c.fail(w, r, nil, err)
		return
	}
	c.setSession(w, session)
	// A page, not a redirect: this response ends a navigation that began
	// at the provider, and the browser would not send the SameSite=Strict
	// session cookie on a redirect of it. The page's own navigation to /
	// is same-site, and carries it.
	c.render(w, r, nil, http.StatusOK, "oidcdone", map[string]any{"Principal": p})
}

// oidcIdentity checks the callback and returns the configured claim's
// value from the verified ID token.
func (c *Console) oidcIdentity(r *http.Request) (string, error) {
	ctx := r.Context()
	q := r.URL.Query()
	ck, err := r.Cookie(c.flowCookie())
	if err != nil || ck.Value == "" {
		return "", oidcRefused("This sign-in did not start in this browser, or took longer than %v. Start again from the sign-in page.", oidcFlowAge)
	}
	state, code := q.Get("state"), q.Get("code")
	if subtle.ConstantTimeCompare([]byte(state), []byte(flowValue(ck.Value, "state"))) != 1 {
		return "", oidcRefused("The sign-in's state does not match the one this browser started with: the answer is not for this sign-in (a forged or replayed link). Nothing was changed; start again from the sign-in page.")
	}
	// The provider's error only after the state: otherwise anyone could
	// link to a console page showing a text of their choosing.
	if e := q.Get("error"); e != "" {
		return "", oidcRefused("The identity provider refused the sign-in (%s: %s). Nothing was changed; try again, or ask an administrator for a one-time link.", e, q.Get("error_description"))
	}
	if code == "" {
		return "", errcode.New(errcode.RequestInvalid, "The identity provider's answer has no code. Start again from the sign-in page.")
	}
	p, err := c.oidc.discover(ctx)
	if err != nil {
		c.log.WarnContext(ctx, "console: OIDC discovery failed", "issuer", c.oidc.cfg.Issuer, "err", err)
		return "", errOIDCUnavailable
	}
	octx := c.oidc.clientCtx(ctx)
	tok, err := c.oidc.oauth2(p).Exchange(octx, code, oauth2.VerifierOption(flowValue(ck.Value, "pkce")))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			c.log.InfoContext(ctx, "console: OIDC code refused by the provider", "err", err)
			return "", oidcRefused("The identity provider did not accept the sign-in's code (%s). Start again from the sign-in page.", re.ErrorCode)
		}
		c.log.WarnContext(ctx, "console: OIDC token request failed", "err", err)
		return "", errOIDCUnavailable
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return "", oidcRefused("The identity provider's answer has no ID token. An administrator should check that the console's client is an OpenID Connect client.")
	}
	idt, err := p.VerifierContext(octx, &oidc.Config{ClientID: c.oidc.cfg.ClientID, Now: c.now}).Verify(ctx, raw)
	if err != nil {
		c.log.InfoContext(ctx, "console: OIDC ID token refused", "err", err)
		return "", oidcRefused("The identity provider's ID token was refused (%s). Nothing was changed; start again from the sign-in page.", idTokenProblem(err))
	}
	want := flowValue(ck.Value, "nonce")
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(want)) != 1 {
		return "", oidcRefused("The ID token's nonce is not this sign-in's: the token was issued for another sign-in (replayed). Nothing was changed; start again from the sign-in page.")
	}
	claim := c.oidc.cfg.Claim
	if claim == "sub" {
		return idt.Subject, nil
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return "", oidcRefused("The ID token's claims could not be read.")
	}
	v, ok := claims[claim].(string)
	if !ok || v == "" {
		return "", oidcRefused("The ID token has no %q claim (a string), which the console matches against principals' external ids. An administrator sets the claim with --console-oidc-claim.", claim)
	}
	return v, nil
}

// idTokenProblem names what failed in words, without the token.
func idTokenProblem(err error) string {
	var exp *oidc.TokenExpiredError
	msg := err.Error()
	switch {
	case errors.As(err, &exp):
		return "it has expired"
	case strings.Contains(msg, "different provider"):
		return "it was issued by another provider (iss)"
	case strings.Contains(msg, "audience"):
		return "it is not for this console's client (aud)"
	case strings.Contains(msg, "signature"), strings.Contains(msg, "malformed jwt"):
		return "its signature does not verify against the provider's keys"
	}
	return "it could not be verified"
}

// oidcPrincipal is the one live principal whose external_id is value.
// Deleted principals do not count; two or more (in different tenants) is
// ambiguous and refused rather than guessed.
func (c *Console) oidcPrincipal(ctx context.Context, value string) (store.Principal, error) {
	ps, _, err := c.cfg.Store.ListPrincipals(ctx, store.PrincipalFilter{ExternalID: value}, store.Page{Limit: 10})
	if err != nil {
		return store.Principal{}, err
	}
	var live []store.Principal
	for _, p := range ps {
		if p.Status != store.StatusDeleted {
			live = append(live, p)
		}
	}
	switch len(live) {
	case 0:
		return store.Principal{}, oidcRefused("You signed in at the identity provider, but no principal has the external id %q (claim %s). An administrator can set it: authz principal update <principal id> --external-id ...", value, c.oidc.cfg.Claim)
	case 1:
		return live[0], nil
	}
	ids := make([]string, len(live))
	for i, p := range live {
		ids[i] = p.ID
	}
	return store.Principal{}, oidcRefused("More than one principal has the external id %q (%s), so the console cannot tell which one you are. An administrator should give each its own external id; until then, use a one-time link.", value, strings.Join(ids, ", "))
}

// newSession starts a session of p, in one transaction with its
// console.signin audit event (details say how), and returns its secret.
func (c *Console) newSession(ctx context.Context, p store.Principal, details map[string]any) (string, error) {
	secret := newSecret()
	now := c.now().UTC().Truncate(time.Microsecond)
	err := c.cfg.Store.Tx(ctx, func(tx store.Tx) error {
		return c.createSession(ctx, tx, p, secret, now, details)
	})
	return secret, err
}

func (c *Console) createSession(ctx context.Context, tx store.Tx, p store.Principal, secret string, now time.Time, details map[string]any) error {
	actor := "console:" + p.ID
	if err := tx.CreateConsoleSession(ctx, store.ConsoleSession{
		Hash: hashSecret(secret), Kind: store.ConsoleSessionKind, PrincipalID: p.ID,
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(c.cfg.MaxAge), CreatedBy: actor,
	}); err != nil {
		return err
	}
	ev := store.AuditEvent{
		Time: now, Actor: actor, Action: "console.signin", Target: "principal:" + p.ID,
		TenantID: p.TenantID, Outcome: audit.OutcomeSuccess,
	}
	if details != nil {
		b, err := json.Marshal(details)
		if err != nil {
			return fmt.Errorf("console: sign-in details: %w", err)
		}
		ev.Details = b
	}
	return audit.Append(ctx, tx, ev)
}
