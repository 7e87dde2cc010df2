package oauth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"time"

	"github.com/ory/fosite"
	fositeoauth2 "github.com/ory/fosite/handler/oauth2"

	"github.com/authz/authz/errcode"
	"github.com/authz/authz/store"
)

// fositeStorage satisfies fosite.Storage. fosite only consults it from its
// default client authentication, which we replace, so every method refuses:
// a code path that reaches it by mistake fails closed.
type fositeStorage struct{}

var _ fosite.Storage = fositeStorage{}

func (fositeStorage) GetClient(context.Context, string) (fosite.Client, error) {
	return nil, fosite.ErrNotFound
}
func (fositeStorage) ClientAssertionJWTValid(context.Context, string) error {
	return fosite.ErrJTIKnown
}
func (fositeStorage) SetClientAssertionJWT(context.Context, string, time.Time) error {
	return fosite.ErrJTIKnown
}

// refuseHasher is fosite's ClientSecretsHasher. Secrets are checked by our
// client authentication with keyed hashes, never by fosite's bcrypt.
type refuseHasher struct{}

func (refuseHasher) Compare(context.Context, []byte, []byte) error {
	return errors.New("oauth: fosite secret comparison is disabled")
}
func (refuseHasher) Hash(context.Context, []byte) ([]byte, error) {
	return nil, errors.New("oauth: fosite secret hashing is disabled")
}

// tokenStorage is fosite's AccessTokenStorage. Tokens are JWTs verified
// offline and introspected from their claims, so nothing is stored per
// token; CreateAccessTokenSession, the one hook fosite calls for every token
// it mints, is where the token's audit event becomes durable — before the
// response can be written (SPEC §6).
type tokenStorage struct{ s *Server }

var _ fositeoauth2.AccessTokenStorage = (*tokenStorage)(nil)

func (t *tokenStorage) CreateAccessTokenSession(ctx context.Context, _ string, req fosite.Requester) error {
	st := stateFrom(ctx)
	sess, ok := req.GetSession().(*fositeoauth2.JWTSession)
	if !ok || sess.JWTClaims == nil {
		return errors.New("oauth: unexpected session type")
	}
	c := sess.JWTClaims
	details := map[string]any{
		"jti":       c.JTI,
		"grant":     st.grant,
		"sub":       c.Subject,
		"client_id": c.Extra["client_id"],
		"scope":     c.Scope,
		"aud":       c.Audience,
		"exp":       c.ExpiresAt.UTC().Format(time.RFC3339),
	}
	if act, ok := c.Extra["act"]; ok {
		details["act"] = act
	}
	if kid, ok := c.Extra["key_id"]; ok {
		details["key_id"] = kid
	}
	if st.actorClient != "" {
		details["actor_client"] = st.actorClient
	}
	if st.actorOwner != "" {
		details["actor_principal"] = st.actorOwner
	}
	raw, err := json.Marshal(details)
	if err != nil {
		return err
	}
	// The target is the credential that obtained the token, so `audit list
	// --target key:<id>` is that key's whole history; the token's jti is in
	// the details. (A per-token target would also scatter every insert
	// across the target index: the audit log is on the token hot path.)
	ev := store.AuditEvent{
		Actor:    st.actor,
		Action:   "token.issue",
		Target:   st.target,
		TenantID: st.tenantID,
		Outcome:  "success",
		Details:  raw,
	}
	if err := t.s.deps.Audit.Record(ctx, ev); err != nil {
		st.audited = true // the refusal must not be audited as a refusal of the credential
		return errcode.Wrap(errcode.Unavailable, err, "The audit log could not be written, so no token was issued; retry shortly.")
	}
	st.audited = true
	return nil
}

func (t *tokenStorage) GetAccessTokenSession(context.Context, string, fosite.Session) (fosite.Requester, error) {
	return nil, fosite.ErrNotFound
}

func (t *tokenStorage) DeleteAccessTokenSession(context.Context, string) error {
	return fosite.ErrNotFound
}

// requestState travels in the context of one token request, so that the
// grant handlers, client authentication and the storage hook can tell the
// HTTP layer what they learned (for the audit event and response headers).
type requestState struct {
	grant    string
	actor    string // "client:<id>", "legacy-key:<id>", "anonymous"
	target   string // audit target of a refusal: "client:<id>", "key:<id>"
	tenantID string
	// wellFormed is set once the request carries a credential that parsed
	// (a plausible client id, a key in a valid format): refusals from then
	// on are written to the audit log durably; before, they are sampled.
	wellFormed bool
	// clientPresented: the request carried client credentials of some kind.
	clientPresented bool
	// actorClient and actorOwner are the client the request authenticated
	// as and the principal that owns it (for a key exchange without a
	// client: the key's owner), named in its audit event.
	actorClient, actorOwner string
	// audited is set when an event for this request was already written.
	audited bool
	// sunset is the tenant's legacy sunset, for Deprecation/Sunset headers.
	sunset   *time.Time
	lifetime time.Duration
	// issuedTokenType is set by the exchange handler (RFC 8693 §2.2.1).
	issuedTokenType string
}

type stateKey struct{}

func withState(ctx context.Context, st *requestState) context.Context {
	return context.WithValue(ctx, stateKey{}, st)
}

// stateFrom returns the request's state; a throwaway one if none (never nil).
func stateFrom(ctx context.Context) *requestState {
	if st, ok := ctx.Value(stateKey{}).(*requestState); ok {
		return st
	}
	return &requestState{}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (Go ≥ 1.24)
	return b
}

// newJTI returns a 128-bit random token id.
func newJTI() string { return base64.RawURLEncoding.EncodeToString(randomBytes(16)) }
