package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/authz/authz/errcode"
	"github.com/authz/authz/legacykeys"
	"github.com/authz/authz/policy"
	"github.com/authz/authz/store"
)

// maxTokenBytes bounds tokens we try to parse.
const maxTokenBytes = 8 << 10

// Claims are the claims of an authz access token (SPEC §3).
type Claims struct {
	Issuer    string          `json:"iss"`
	Subject   string          `json:"sub"`
	Audience  Audience        `json:"aud"`
	Expiry    int64           `json:"exp"`
	IssuedAt  int64           `json:"iat"`
	NotBefore int64           `json:"nbf,omitempty"`
	JTI       string          `json:"jti"`
	ClientID  string          `json:"client_id"`
	Scope     string          `json:"scope"`
	Tenant    string          `json:"tenant"`
	Roles     []string        `json:"roles"`
	KeyID     string          `json:"key_id,omitempty"`
	Act       *Actor          `json:"act,omitempty"`
	Status    json.RawMessage `json:"status,omitempty"`
}

// Actor is the RFC 8693 §4.1 act claim.
type Actor struct {
	Sub string `json:"sub"`
}

// Audience is the aud claim: a string or an array of strings (RFC 7519 §4.1.3).
type Audience []string

func (a *Audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = Audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("aud must be a string or an array of strings")
	}
	*a = many
	return nil
}

// statusIndex returns the token's status-list index, if it has one.
func (c *Claims) statusIndex() (int64, bool) {
	if len(c.Status) == 0 {
		return 0, false
	}
	var st struct {
		StatusList *struct {
			Idx *int64 `json:"idx"`
		} `json:"status_list"`
	}
	if json.Unmarshal(c.Status, &st) != nil || st.StatusList == nil || st.StatusList.Idx == nil {
		return 0, false
	}
	return *st.StatusList.Idx, true
}

// Scopes splits the scope claim.
func (c *Claims) Scopes() []string { return strings.Fields(c.Scope) }

// FromLegacyKey reports whether the token came from a key exchange.
func (c *Claims) FromLegacyKey() bool { return strings.HasPrefix(c.ClientID, "legacy-key:") }

// TokenInfo is the outcome of inspecting a token.
type TokenInfo struct {
	Active bool
	// Reason says why an inactive token is inactive (for logs and the
	// admin API's error description; never sent by introspection).
	Reason string
	Claims Claims
}

// Inspect decides whether token is an active access token of this issuer:
// our signature, our issuer, not expired, not revoked, and its credential
// chain (client, or legacy key, owner and tenant) still active. The chain
// is read from the store, not the hot-path cache, so a suspension shows at
// once. Only storage failures are returned as errors.
func (s *Server) Inspect(ctx context.Context, token string) (TokenInfo, error) {
	inactive := func(reason string, c Claims) (TokenInfo, error) { return TokenInfo{Reason: reason, Claims: c}, nil }
	if token == "" || len(token) > maxTokenBytes {
		return inactive("malformed", Claims{})
	}
	raw, _, err := s.deps.Verifier.Verify(ctx, token, "at+jwt")
	if err != nil {
		return inactive("not a valid token of this issuer", Claims{})
	}
	var c Claims
	if err := json.Unmarshal(raw, &c); err != nil {
		return inactive("malformed claims", Claims{})
	}
	now := s.now()
	switch {
	case c.Issuer != s.cfg.Issuer:
		return inactive("issued by another issuer", c)
	case c.Expiry == 0 || !now.Before(time.Unix(c.Expiry, 0)):
		return inactive("expired", c)
	case c.NotBefore != 0 && now.Add(s.cfg.ClockSkew).Before(time.Unix(c.NotBefore, 0)):
		return inactive("not yet valid", c)
	case c.JTI == "":
		return inactive("no jti", c)
	}
	revoked, err := s.deps.Store.TokenRevoked(ctx, c.JTI)
	if err != nil {
		return TokenInfo{}, fmt.Errorf("revocation check: %w", err)
	}
	if revoked {
		return inactive("revoked", c)
	}
	if err := s.chainActive(ctx, &c); err != nil {
		if e, ok := errcode.As(err); ok {
			return inactive(string(e.Code)+": "+e.Text(), c)
		}
		return TokenInfo{}, err
	}
	return TokenInfo{Active: true, Claims: c}, nil
}

// chainActive re-checks, from the store, everything the token's issuance
// depended on.
func (s *Server) chainActive(ctx context.Context, c *Claims) error {
	if c.FromLegacyKey() {
		k, err := s.deps.Store.GetLegacyKey(ctx, c.KeyID)
		if errors.Is(err, store.ErrNotFound) {
			return errcode.New(errcode.KeyUnknown, "the legacy key no longer exists")
		}
		if err != nil {
			return err
		}
		f := legacykeys.Facts{Key: &k, Now: s.now()}
		if p, err := s.deps.Store.GetPrincipal(ctx, c.Subject); err == nil {
			f.Owner = &p
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if t, err := s.deps.Store.GetTenant(ctx, k.TenantID); err == nil {
			f.Tenant = &t
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if e := legacykeys.Decide(f); e != nil {
			return e
		}
		return nil
	}
	cl, err := s.deps.Store.GetClient(ctx, c.ClientID)
	if errors.Is(err, store.ErrNotFound) {
		return errcode.New(errcode.ClientInvalid, "the client no longer exists")
	}
	if err != nil {
		return err
	}
	return s.activeChain(ctx, s.deps.Store, &authedClient{c: cl})
}

// AuthenticateBearer checks a bearer token presented to a protected API
// (the admin API): it must be active now. Refusals are *errcode.Error
// TokenInvalid.
func (s *Server) AuthenticateBearer(ctx context.Context, token string) (Claims, error) {
	if token == "" {
		return Claims{}, errcode.New(errcode.TokenInvalid, "A bearer token is required (Authorization: Bearer <access token>).")
	}
	info, err := s.Inspect(ctx, token)
	if err != nil {
		return Claims{}, err
	}
	if !info.Active {
		return Claims{}, errcode.Newf(errcode.TokenInvalid, "The bearer token is not active: %s.", info.Reason)
	}
	return info.Claims, nil
}

// introspectionResponse is RFC 7662 §2.2 plus authz's claims.
type introspectionResponse struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope,omitempty"`
	ClientID  string   `json:"client_id,omitempty"`
	TokenType string   `json:"token_type,omitempty"`
	Exp       int64    `json:"exp,omitempty"`
	Iat       int64    `json:"iat,omitempty"`
	Nbf       int64    `json:"nbf,omitempty"`
	Sub       string   `json:"sub,omitempty"`
	Aud       []string `json:"aud,omitempty"`
	Iss       string   `json:"iss,omitempty"`
	JTI       string   `json:"jti,omitempty"`
	Tenant    string   `json:"tenant,omitempty"`
	Roles     []string `json:"roles,omitempty"`
	KeyID     string   `json:"key_id,omitempty"`
	Act       *Actor   `json:"act,omitempty"`
}

// tokenRequest reads an introspection or revocation request (RFC 7662
// §2.1, RFC 7009 §2.1): a form with a token, from an authenticated client.
// On failure it has written the error and ok is false.
func (s *Server) tokenRequest(w http.ResponseWriter, r *http.Request, endpoint string) (ctx context.Context, caller *authedClient, token string, ok bool) {
	ctx = withState(r.Context(), &requestState{actor: "anonymous", grant: endpoint})
	form, err := s.readForm(w, r)
	if err != nil {
		errcode.Write(w, s.cfg.Logger, err)
		return ctx, nil, "", false
	}
	if caller, err = s.authenticate(ctx, r, form); err != nil {
		errcode.Write(w, s.cfg.Logger, toErrcode(err))
		return ctx, nil, "", false
	}
	if token = form.Get("token"); token == "" {
		errcode.Write(w, s.cfg.Logger, errcode.New(errcode.RequestInvalid, "token is required."))
		return ctx, nil, "", false
	}
	return ctx, caller, token, true
}

// serveIntrospect is RFC 7662. The caller authenticates as a client. It
// learns about tokens of its own tenant only, unless its owner holds
// authz:admin or authz:introspect: a token of another tenant is simply
// inactive to it, which reveals nothing.
func (s *Server) serveIntrospect(w http.ResponseWriter, r *http.Request) {
	ctx, caller, token, ok := s.tokenRequest(w, r, "introspect")
	if !ok {
		return
	}
	info, err := s.Inspect(ctx, token)
	if err != nil {
		errcode.Write(w, s.cfg.Logger, err)
		return
	}
	resp := introspectionResponse{Active: false}
	if info.Active {
		allowed := caller.c.TenantID == info.Claims.Tenant
		if !allowed {
			allowed, err = s.callerPermits(ctx, caller, info.Claims.Tenant, "authz:introspect")
		}
		if err != nil {
			errcode.Write(w, s.cfg.Logger, err)
			return
		}
		if allowed {
			c := info.Claims
			resp = introspectionResponse{
				Active: true, Scope: c.Scope, ClientID: c.ClientID, TokenType: "Bearer",
				Exp: c.Expiry, Iat: c.IssuedAt, Nbf: c.NotBefore, Sub: c.Subject, Aud: c.Audience,
				Iss: c.Issuer, JTI: c.JTI, Tenant: c.Tenant, Roles: c.Roles, KeyID: c.KeyID, Act: c.Act,
			}
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

// callerPermits reports whether the caller may act on a token of tenant:
// the client may be granted authz:tenant-admin for its own tenant, or, for
// a client of the system tenant, authz:admin or one of perms. Permissions
// that reach across tenants count only in the system tenant, like
// everywhere else (admin.authorize), so that no tenant can grant itself a
// view of others.
//
// What counts is what the client could put in a token (its owner's roles
// narrowed by the client's allowed scopes, policy.Grantable), not the
// owner's roles alone: a client limited to inv:read, whose token the admin
// API refuses, must not gain administrative reach at the endpoints that
// authenticate it directly (issue 18 §3).
func (s *Server) callerPermits(ctx context.Context, caller *authedClient, tenant string, perms ...string) (bool, error) {
	roles, err := s.deps.Store.RolesOfPrincipal(ctx, caller.owner.ID)
	if err != nil {
		return false, err
	}
	held := policy.Grantable(roles, caller.c.Scopes)
	if caller.c.TenantID == tenant && slices.Contains(held, policy.PermTenantAdmin) {
		return true, nil
	}
	if caller.c.TenantID != store.SystemTenantID {
		return false, nil
	}
	if slices.Contains(held, policy.PermAdmin) {
		return true, nil
	}
	for _, p := range perms {
		if slices.Contains(held, p) {
			return true, nil
		}
	}
	return false, nil
}

// serveRevoke is RFC 7009. The caller authenticates; it may revoke tokens
// issued to it (or, for exchanged keys, obtained by it as actor), RFC 7009
// §2.1. Revoking another's token is an administrative act: the caller's
// client must be grantable authz:tenant-admin (that tenant) or authz:admin
// (system tenant, any tenant), see callerPermits; otherwise the request is
// refused with unauthorized_client / token_not_owned, as §2.1 says ("the
// request is refused and the client is informed of the error"), and nothing
// changes, not even the status-list entry. Invalid or expired tokens are
// answered 200 (RFC 7009 §2.2). The revocation and its audit event commit
// together.
func (s *Server) serveRevoke(w http.ResponseWriter, r *http.Request) {
	ctx, caller, token, ok := s.tokenRequest(w, r, "revoke")
	if !ok {
		return
	}
	c, own := s.ownToken(ctx, token)
	if !own {
		w.WriteHeader(http.StatusOK)
		return
	}
	owned := c.ClientID == caller.c.ID || (c.Act != nil && c.Act.Sub == caller.c.ID)
	if !owned {
		admin, err := s.callerPermits(ctx, caller, c.Tenant)
		if err != nil {
			errcode.Write(w, s.cfg.Logger, err)
			return
		}
		if !admin {
			errcode.Write(w, s.cfg.Logger, errcode.New(errcode.TokenNotOwned, ""))
			return
		}
	}
	if done, err := s.deps.Store.TokenRevoked(ctx, c.JTI); err != nil {
		errcode.Write(w, s.cfg.Logger, err)
		return
	} else if done { // revoked before: nothing changes, nothing to audit
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		return
	}
	details, _ := json.Marshal(map[string]any{"client_id": c.ClientID, "sub": c.Subject})
	ev := store.AuditEvent{
		Actor: "client:" + caller.c.ID, Action: "token.revoke", Target: "token:" + c.JTI,
		TenantID: c.Tenant, Outcome: "success", Details: details,
	}
	err := s.deps.Store.Tx(ctx, func(tx store.Tx) error {
		if err := tx.RevokeToken(ctx, c.JTI, time.Unix(c.Expiry, 0)); err != nil {
			return err
		}
		// Offline verifiers learn of it through the status list. Indices
		// stand for credentials, so the credential's other outstanding
		// tokens go with it (RFC 7009 §2.1 allows that); its next token
		// gets a fresh index.
		if idx, ok := c.statusIndex(); ok {
			cur, err := tx.GetStatusIndex(ctx, credentialOf(&c))
			switch {
			case errors.Is(err, store.ErrNotFound):
			case err != nil:
				return err
			case cur == idx: // an older index is already invalid
				if err := tx.InvalidateStatusIndex(ctx, credentialOf(&c), s.now()); err != nil {
					return err
				}
			}
		}
		return s.deps.AuditAppend(ctx, tx, ev)
	})
	if err != nil {
		errcode.Write(w, s.cfg.Logger, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// ownToken returns the claims of a token this issuer signed that has not
// expired yet (revocable), whatever the state of its chain.
func (s *Server) ownToken(ctx context.Context, token string) (Claims, bool) {
	if token == "" || len(token) > maxTokenBytes {
		return Claims{}, false
	}
	raw, _, err := s.deps.Verifier.Verify(ctx, token, "at+jwt")
	if err != nil {
		return Claims{}, false
	}
	var c Claims
	if json.Unmarshal(raw, &c) != nil || c.Issuer != s.cfg.Issuer || c.JTI == "" || !s.now().Before(time.Unix(c.Expiry, 0)) {
		return Claims{}, false
	}
	return c, true
}

// serveMetadata is RFC 8414 (served at both well-known paths).
func (s *Server) serveMetadata(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		errcode.Write(w, s.cfg.Logger, errcode.New(errcode.MethodNotAllowed, "Use GET."))
		return
	}
	iss := s.cfg.Issuer
	authMethods := []string{store.AuthSecretBasic, store.AuthSecretPost, store.AuthPrivateKeyJWT}
	var assertion []string
	for _, a := range assertionAlgs {
		assertion = append(assertion, string(a))
	}
	md := map[string]any{
		"issuer":                                iss,
		"token_endpoint":                        iss + PathToken,
		"jwks_uri":                              iss + PathJWKS,
		"grant_types_supported":                 []string{store.GrantClientCredentials, store.GrantTokenExchange},
		"response_types_supported":              []string{},
		"token_endpoint_auth_methods_supported": authMethods,
		"token_endpoint_auth_signing_alg_values_supported":         assertion,
		"introspection_endpoint":                                   iss + PathIntrospect,
		"introspection_endpoint_auth_methods_supported":            authMethods,
		"introspection_endpoint_auth_signing_alg_values_supported": assertion,
		"revocation_endpoint":                                      iss + PathRevoke,
		"revocation_endpoint_auth_methods_supported":               authMethods,
		"revocation_endpoint_auth_signing_alg_values_supported":    assertion,
		"access_token_signing_alg_values_supported":                s.deps.SigningAlgs,
		"subject_token_types_supported":                            []string{TokenTypeAPIKey},
	}
	if s.deps.Status != nil { // Token Status List aggregation: statuslist/publisher.PathAggregation
		md["status_list_aggregation_endpoint"] = iss + "/statuslists"
	}
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, http.StatusOK, md)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	if w.Header().Get("Cache-Control") == "" {
		w.Header().Set("Cache-Control", "no-store")
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
