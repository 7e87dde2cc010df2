package reqmeta

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strings"
)

// Meta is what authz knows about the request being served.
type Meta struct {
	RequestID  string
	ClientAddr string
	// Actor is who is acting, once authenticated: "client:<id>",
	// "legacy-key:<id>", "admin:<client id>", or "system".
	Actor string
	// UserAgent is the request's User-Agent, cleaned (UserAgentOf), kept
	// in audit events.
	UserAgent string
	// ActorClient and ActorPrincipal are the client the actor
	// authenticated as and the principal that owns it, for audit events
	// (admin requests set them; token requests carry them in their
	// events' details).
	ActorClient    string
	ActorPrincipal string
}

// WithActorOf returns ctx with the actor's client and owning principal set.
func WithActorOf(ctx context.Context, client, principal string) context.Context {
	m := From(ctx)
	m.ActorClient, m.ActorPrincipal = client, principal
	return With(ctx, m)
}

// maxUserAgent bounds a kept User-Agent.
const maxUserAgent = 256

// UserAgentOf cleans a User-Agent for the audit log: at most 256 bytes,
// valid UTF-8, control characters replaced, so that it cannot forge log
// lines or drive a terminal.
func UserAgentOf(ua string) string {
	if ua == "" {
		return ""
	}
	ua = strings.ToValidUTF8(ua, "?")
	if len(ua) > maxUserAgent {
		ua = strings.ToValidUTF8(ua[:maxUserAgent], "")
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' {
			return '?'
		}
		return r
	}, ua)
}

type ctxKey struct{}

// With returns ctx carrying m.
func With(ctx context.Context, m Meta) context.Context {
	return context.WithValue(ctx, ctxKey{}, m)
}

// From returns the Meta carried by ctx (zero if none).
func From(ctx context.Context) Meta {
	m, _ := ctx.Value(ctxKey{}).(Meta)
	return m
}

// WithActor returns ctx with the actor set, keeping the rest.
func WithActor(ctx context.Context, actor string) context.Context {
	m := From(ctx)
	m.Actor = actor
	return With(ctx, m)
}

// Header is the response (and accepted request) header for the request id.
const Header = "X-Request-Id"

// NewID returns a fresh request id (16 random bytes, hex).
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// validID accepts a caller-supplied request id only if it is short and
// plain, so that it cannot inject into logs or headers.
func validID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.:", r)) {
			return false
		}
	}
	return true
}

// Middleware assigns a request id (reusing a well-formed X-Request-Id from
// the caller, for tracing across proxies), echoes it in the response, and
// records the client address. It does not trust X-Forwarded-For: that is
// TrustedProxies.Middleware, for the proxies an operator names.
func Middleware(next http.Handler) http.Handler {
	return TrustedProxies{}.Middleware(next)
}
