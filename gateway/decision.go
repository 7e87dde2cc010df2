package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/authz/authz/errcode"
)

// Headers of the decision endpoint's answers. On 200 the identity headers
// are always all present (empty when the token has no such claim), so that
// a front proxy copying them upstream overwrites whatever a caller sent
// under the same names.
const (
	HeaderSubject    = "X-Authz-Subject"
	HeaderTenant     = "X-Authz-Tenant"
	HeaderClientID   = "X-Authz-Client-Id"
	HeaderScope      = "X-Authz-Scope"
	HeaderCredential = "X-Authz-Credential"
	// HeaderErrorCode and HeaderError carry a refusal's error_code and its
	// whole JSON body (ASCII, one line) for front proxies that drop the
	// body of the decision (NGINX auth_request): auth_request_set copies
	// them, error_page returns them.
	HeaderErrorCode = "X-Authz-Error-Code"
	HeaderError     = "X-Authz-Error"
)

// Per-route requirement headers a front proxy sets per location. They add
// to the gateway's own requirements (--require-scope, --tenant...), never
// replace them, so a caller who sends them itself can only make its own
// request harder to pass; that is why they are honoured from any peer
// allowed to ask.
const (
	HeaderRequireScope    = "X-Authz-Require-Scope"
	HeaderRequireRole     = "X-Authz-Require-Role"
	HeaderRequireTenant   = "X-Authz-Require-Tenant"
	HeaderRequireAudience = "X-Authz-Require-Audience"
	maxRequirementValues  = 32
)

// DecisionHandler is the HTTP decision endpoint (`authz gateway --mode
// decision`): it answers on every path, for NGINX auth_request, Traefik's
// and Caddy's forward_auth and Envoy's HTTP ext_authz, 200 with identity
// headers (and Authorization: Bearer with the token, which for a bridged
// legacy key replaces the key) or the refusal the proxy mode would give,
// JSON body included. With TrustedProxies set, only those peers may ask.
func (d *Decider) DecisionHandler() http.Handler {
	return d.trusted.Middleware(http.HandlerFunc(d.serveDecision))
}

func (d *Decider) serveDecision(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if d.trusted.Len() > 0 && !d.trustedPeer(r.RemoteAddr) {
		dec := UntrustedPeer()
		writeDecisionRefusal(w, dec.ref, d.realm)
		d.Record(ModeDecision, "", dec, OutcomeUntrustedPeer, time.Since(start))
		return
	}
	o, ref := parseOriginal(r.Method, r.RequestURI, r.Host, r.Header)
	var extra Extra
	if ref == nil {
		extra, ref = parseExtra(r.Header)
	}
	if ref != nil {
		writeDecisionRefusal(w, ref, d.realm)
		d.Record(ModeDecision, "", Decision{Credential: credNone, ref: ref}, OutcomeBadRequest, time.Since(start))
		return
	}
	dec := d.Decide(r.Context(), Input{Header: r.Header, Path: o.Path, Extra: extra})
	if !dec.Allowed() {
		writeDecisionRefusal(w, dec.ref, d.realm)
		d.Record(ModeDecision, o.Path, dec, "", time.Since(start))
		return
	}
	h := w.Header()
	for k, v := range dec.IdentityHeaders() {
		h.Set(k, v)
	}
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	d.Record(ModeDecision, o.Path, dec, "allowed", time.Since(start))
}

// IdentityHeaders are the headers an allowed request goes upstream with:
// who it is, and Authorization: Bearer with the token (the exchanged one
// for a legacy key, which must never reach the upstream).
func (d Decision) IdentityHeaders() map[string]string {
	if d.ref != nil || d.Claims == nil {
		return nil
	}
	c := d.Claims
	return map[string]string{
		HeaderSubject:    headerSafe(c.Subject),
		HeaderTenant:     headerSafe(c.Tenant),
		HeaderClientID:   headerSafe(c.ClientID),
		HeaderScope:      headerSafe(strings.Join(c.Scope, " ")),
		HeaderCredential: d.Credential,
		"Authorization":  "Bearer " + d.Token,
	}
}

// RefusalHeaders are the headers of a refusal besides its status:
// WWW-Authenticate, Retry-After, and the error code and body for front
// proxies that drop the decision's body.
func (d Decision) RefusalHeaders(realm string) map[string]string {
	if d.ref == nil {
		return nil
	}
	h := map[string]string{
		HeaderErrorCode: string(d.ref.body.Code),
		HeaderError:     asciiJSON(d.ref.body),
		"Cache-Control": "no-store",
	}
	if v := d.ref.challengeValue(realm); v != "" {
		h["WWW-Authenticate"] = v
	}
	if s := d.RetryAfter(); s > 0 {
		h["Retry-After"] = fmt.Sprint(s)
	}
	return h
}

// Outcomes of decision requests refused before any credential is looked
// at.
const (
	OutcomeBadRequest    = "bad_request"
	OutcomeUntrustedPeer = "untrusted_peer"
)

// UntrustedPeer is the refusal of a decision request from a peer outside
// TrustedProxies.
func UntrustedPeer() Decision {
	return Decision{Credential: credNone, ref: &refusal{status: http.StatusForbidden, noChallenge: true, reason: OutcomeUntrustedPeer,
		body: errcode.Body{Error: "access_denied", Code: errcode.Forbidden,
			Description: "Decisions are answered only to the proxies named by --trusted-proxy."}}}
}

// BadRequest is the refusal of a decision request that does not describe
// the original request usably.
func BadRequest(desc string) Decision {
	return Decision{Credential: credNone, ref: badForwarded(desc)}
}

// ParseRequirements reads the per-route requirement headers
// (X-Authz-Require-*).
func ParseRequirements(h http.Header) (Extra, error) {
	e, ref := parseExtra(h)
	if ref != nil {
		return Extra{}, forwardedError(ref.body.Description)
	}
	return e, nil
}

// JSONBody is a refusal's JSON body, one line of ASCII.
func (d Decision) JSONBody() string {
	if d.ref == nil {
		return ""
	}
	return asciiJSON(d.ref.body)
}

// KeyHeader is the legacy key header, canonical ("" with the bridge off).
func (d *Decider) KeyHeader() string { return d.keyHeader }

func writeDecisionRefusal(w http.ResponseWriter, ref *refusal, realm string) {
	w.Header().Set(HeaderErrorCode, string(ref.body.Code))
	w.Header().Set(HeaderError, asciiJSON(ref.body))
	ref.write(w, realm)
}

func (d *Decider) trustedPeer(remoteAddr string) bool {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return false
	}
	return d.trusted.Trusts(ap.Addr().Unmap())
}

// parseExtra reads the per-route requirement headers: values separated by
// spaces or commas, each visible ASCII.
func parseExtra(h http.Header) (Extra, *refusal) {
	var e Extra
	for _, f := range []struct {
		name string
		dst  *[]string
	}{
		{HeaderRequireScope, &e.Scopes},
		{HeaderRequireRole, &e.Roles},
		{HeaderRequireTenant, &e.Tenants},
		{HeaderRequireAudience, &e.Audiences},
	} {
		for _, v := range h.Values(f.name) {
			for _, item := range strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' }) {
				if !printable(item) || strings.ContainsAny(item, `"\`) || len(item) > 512 {
					return Extra{}, badForwarded(f.name + " holds a malformed value.")
				}
				*f.dst = append(*f.dst, item)
			}
		}
		if len(*f.dst) > maxRequirementValues {
			return Extra{}, badForwarded(f.name + " holds too many values.")
		}
	}
	return e, nil
}

func errcode400(desc string) errcode.Body {
	return errcode.Body{Error: "invalid_request", Code: errcode.RequestInvalid, Description: desc}
}

// asciiJSON is body as one line of ASCII JSON, safe as a header value.
func asciiJSON(body errcode.Body) string {
	b, _ := json.Marshal(body)
	var s strings.Builder
	for _, r := range string(b) {
		if r < 0x20 || r > 0x7e {
			if r1, r2 := utf16.EncodeRune(r); r1 != utf8.RuneError {
				fmt.Fprintf(&s, `\u%04x\u%04x`, r1, r2)
			} else {
				fmt.Fprintf(&s, `\u%04x`, r)
			}
			continue
		}
		s.WriteRune(r)
	}
	return s.String()
}

// headerSafe keeps a claim's value within visible ASCII and spaces:
// claims are the issuer's, but a header value is no place for controls.
func headerSafe(s string) string {
	if printableOrSpace(s) {
		return s
	}
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	return string(b)
}

func printableOrSpace(s string) bool {
	for i := range len(s) {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
