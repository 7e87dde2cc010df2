package oauth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ory/fosite"
	fositeoauth2 "github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/token/jwt"

	"github.com/authz/authz/errcode"
	"github.com/authz/authz/legacykeys"
	"github.com/authz/authz/policy"
	"github.com/authz/authz/ratelimit"
	"github.com/authz/authz/store"
)

// clientCredentialsHandler is RFC 6749 §4.4 with SPEC §3's policy: the
// effective scope is requested ∩ the owner's role permissions ∩ the
// client's allowed scopes. It replaces fosite's handler, which only checks
// requested scopes against the client's list and grants nothing (fosite
// notes, §1), and whose errors carry no error_code.
type clientCredentialsHandler struct {
	s      *Server
	helper *fositeoauth2.HandleHelper
}

var _ fosite.TokenEndpointHandler = (*clientCredentialsHandler)(nil)

func (h *clientCredentialsHandler) CanHandleTokenEndpointRequest(_ context.Context, ar fosite.AccessRequester) bool {
	return ar.GetGrantTypes().ExactOne(store.GrantClientCredentials)
}

func (h *clientCredentialsHandler) CanSkipClientAuth(context.Context, fosite.AccessRequester) bool {
	return false // RFC 6749 §4.4.2: the client MUST authenticate
}

func (h *clientCredentialsHandler) HandleTokenEndpointRequest(ctx context.Context, ar fosite.AccessRequester) error {
	if !h.CanHandleTokenEndpointRequest(ctx, ar) {
		return fosite.ErrUnknownRequest
	}
	s := h.s
	a, ok := ar.GetClient().(*authedClient)
	if !ok {
		return errors.New("oauth: client credentials without an authenticated client")
	}
	if !slices.Contains(a.c.GrantTypes, store.GrantClientCredentials) {
		return errcode.Newf(errcode.GrantNotAllowed, "Client %s is not allowed the client_credentials grant.", a.c.ID)
	}
	roles, err := s.deps.Directory.RolesOfPrincipal(ctx, a.owner.ID)
	if err != nil {
		return fmt.Errorf("roles of %s: %w", a.owner.ID, err)
	}
	scope, err := policy.EffectiveScope(ar.GetRequestedScopes(), roles, a.c.Scopes)
	if err != nil {
		return err
	}
	aud, err := policy.Audience(requestedAudience(ar), a.c.Audiences, s.cfg.DefaultAudience)
	if err != nil {
		return err
	}
	if err := policy.CheckAudiences(ctx, s.deps.Directory, a.c.TenantID, aud, s.cfg.DefaultAudience); err != nil {
		return err
	}
	lifetime := s.lifetimeFor(a.c.AccessTokenTTL)
	extra := map[string]any{
		"client_id": a.c.ID,
		"tenant":    a.c.TenantID,
		"roles":     policy.RoleNames(roles),
	}
	if err := s.addStatus(ctx, extra, CredentialClient(a.c.ID)); err != nil {
		return err
	}
	s.fillSession(ctx, ar, scope, aud, lifetime, a.c.ID, extra)
	return nil
}

func (h *clientCredentialsHandler) PopulateTokenEndpointResponse(ctx context.Context, ar fosite.AccessRequester, resp fosite.AccessResponder) error {
	if !h.CanHandleTokenEndpointRequest(ctx, ar) {
		return fosite.ErrUnknownRequest
	}
	_, err := h.helper.IssueAccessToken(ctx, stateFrom(ctx).lifetime, ar, resp)
	return err
}

// exchangeHandler is RFC 8693 token exchange for legacy API keys (SPEC §3).
// Client authentication is optional — the key is the credential — but a
// client that does authenticate must be allowed the grant, and its id goes
// into the token's act claim (RFC 8693 §4.1).
type exchangeHandler struct {
	s      *Server
	helper *fositeoauth2.HandleHelper
}

var _ fosite.TokenEndpointHandler = (*exchangeHandler)(nil)

func (h *exchangeHandler) CanHandleTokenEndpointRequest(_ context.Context, ar fosite.AccessRequester) bool {
	return ar.GetGrantTypes().ExactOne(store.GrantTokenExchange)
}

// CanSkipClientAuth lets anonymous key holders through, but only when they
// presented no client credentials at all: a failed client authentication
// is never silently ignored (fosite notes, pitfall 9).
func (h *exchangeHandler) CanSkipClientAuth(ctx context.Context, ar fosite.AccessRequester) bool {
	return !stateFrom(ctx).clientPresented
}

func (h *exchangeHandler) HandleTokenEndpointRequest(ctx context.Context, ar fosite.AccessRequester) error {
	if !h.CanHandleTokenEndpointRequest(ctx, ar) {
		return fosite.ErrUnknownRequest
	}
	s := h.s
	st := stateFrom(ctx)
	form := ar.GetRequestForm()
	switch {
	case form.Get("subject_token") == "":
		return errcode.New(errcode.RequestInvalid, "subject_token is required: the legacy API key to exchange.")
	case form.Get("subject_token_type") != TokenTypeAPIKey:
		return errcode.Newf(errcode.TokenTypeInvalid, "subject_token_type must be %s.", TokenTypeAPIKey)
	case form.Has("actor_token") || form.Has("actor_token_type"):
		return errcode.New(errcode.RequestInvalid, "actor_token is not supported: a party acting for the key holder authenticates as a client instead.")
	}
	if rt := form.Get("requested_token_type"); rt != "" && rt != TokenTypeAccessToken && rt != TokenTypeJWT {
		return errcode.Newf(errcode.RequestInvalid, "requested_token_type must be %s.", TokenTypeAccessToken)
	}

	var actor *authedClient
	if st.clientPresented {
		a, ok := ar.GetClient().(*authedClient)
		if !ok {
			return errors.New("oauth: token exchange with credentials but no authenticated client")
		}
		if !slices.Contains(a.c.GrantTypes, store.GrantTokenExchange) {
			return errcode.Newf(errcode.GrantNotAllowed, "Client %s is not allowed the token-exchange grant.", a.c.ID)
		}
		actor = a
	}

	raw := form.Get("subject_token")
	// A key exchanged on someone else's behalf (by a gateway's client) is
	// rate limited per (client, key), so that no one key of one caller
	// can use up what the client may exchange for everyone.
	keyLimit := func(id string) string {
		if actor != nil {
			return actor.c.ID + "\x00" + id
		}
		return id
	}
	parsed, perr := legacykeys.Parse(raw)
	if perr == nil {
		st.wellFormed = true
		st.target = "key:unknown"
		if parsed.ID != "" {
			st.target = "key:" + parsed.ID
			if err := s.guard(ctx, kindKey, parsed.ID, keyLimit(parsed.ID)); err != nil {
				return err
			}
		} else if err := s.guard(ctx, kindKey, ratelimit.ImportedKeys, ""); err != nil {
			// An imported key names no id: a wrong one is a failure of its
			// source against all imported keys.
			return err
		}
	} else {
		st.target = "key:malformed"
	}
	res, err := legacykeys.Resolve(ctx, s.deps.Directory, s.deps.LegacyHasher, raw, form.Get("tenant"), s.now())
	if res.Key.ID != "" {
		st.target = "key:" + res.Key.ID
		st.actor = "legacy-key:" + res.Key.ID
		st.tenantID = res.Key.TenantID
		if actor == nil {
			st.actorOwner = res.Key.OwnerID
		}
		if parsed.ID == "" { // imported keys carry no id: limit once it is known
			if gerr := s.limit(kindKey, keyLimit(res.Key.ID)); gerr != nil {
				return gerr
			}
		}
	}
	if err != nil {
		if errcode.Of(err) == errcode.KeyUnknown && perr == nil {
			s.failed(ctx, kindKey, firstNonEmpty(parsed.ID, ratelimit.ImportedKeys), false)
		}
		return err
	}
	s.succeeded(ctx, kindKey, firstNonEmpty(parsed.ID, ratelimit.ImportedKeys))
	roles, err := s.deps.Directory.RolesOfPrincipal(ctx, res.Owner.ID)
	if err != nil {
		return fmt.Errorf("roles of %s: %w", res.Owner.ID, err)
	}
	scope, err := policy.EffectiveScope(ar.GetRequestedScopes(), roles, res.Key.Scopes)
	if err != nil {
		return err
	}
	var allowedAud []string
	if actor != nil {
		allowedAud = actor.c.Audiences
	}
	aud, err := policy.Audience(requestedAudience(ar), allowedAud, s.cfg.DefaultAudience)
	if err != nil {
		return err
	}
	// The token is the key's tenant's, whoever exchanges it: a gateway's
	// client bridging keys of several tenants gets, for each key, only the
	// audiences that key's tenant may request.
	if err := policy.CheckAudiences(ctx, s.deps.Directory, res.Tenant.ID, aud, s.cfg.DefaultAudience); err != nil {
		return err
	}

	clientID := "legacy-key:" + res.Key.ID
	extra := map[string]any{
		"client_id": clientID,
		"key_id":    res.Key.ID,
		"tenant":    res.Tenant.ID,
		"roles":     policy.RoleNames(roles),
	}
	if actor != nil {
		extra["act"] = map[string]any{"sub": actor.c.ID}
	}
	if err := s.addStatus(ctx, extra, CredentialKey(res.Key.ID)); err != nil {
		return err
	}
	if ar, ok := ar.(*fosite.AccessRequest); ok && actor == nil {
		ar.Client = keyHolder{id: clientID}
	}
	s.fillSession(ctx, ar, scope, aud, s.cfg.TokenLifetime, res.Owner.ID, extra)
	st.grant = "token_exchange"
	st.issuedTokenType = TokenTypeAccessToken
	if sun := res.Tenant.LegacySunsetAt; sun != nil {
		t := *sun
		st.sunset = &t
	}
	s.deps.Usage.KeyUsed(res.Key.ID, s.now())
	return nil
}

func (h *exchangeHandler) PopulateTokenEndpointResponse(ctx context.Context, ar fosite.AccessRequester, resp fosite.AccessResponder) error {
	if !h.CanHandleTokenEndpointRequest(ctx, ar) {
		return fosite.ErrUnknownRequest
	}
	_, err := h.helper.IssueAccessToken(ctx, stateFrom(ctx).lifetime, ar, resp)
	return err
}

// Credentials name what a token's status-list index stands for: revoking
// or suspending the credential, or anything above it, changes the status
// of every token it obtained.
func CredentialClient(id string) string { return "client:" + id }
func CredentialKey(id string) string    { return "key:" + id }

// credentialOf returns the credential a token of ours was issued for.
func credentialOf(c *Claims) string {
	if c.FromLegacyKey() {
		return CredentialKey(c.KeyID)
	}
	return CredentialClient(c.ClientID)
}

// addStatus adds the status claim, if status lists are on.
func (s *Server) addStatus(ctx context.Context, extra map[string]any, credential string) error {
	if s.deps.Status == nil {
		return nil
	}
	claim, err := s.deps.Status.StatusClaim(ctx, credential)
	if err != nil {
		return fmt.Errorf("status list index: %w", err)
	}
	extra["status"] = claim
	return nil
}

// requestedAudience merges RFC 8693 "audience" and RFC 8707 "resource".
func requestedAudience(ar fosite.AccessRequester) []string {
	aud := slices.Clone([]string(ar.GetRequestedAudience()))
	for _, r := range ar.GetRequestForm()["resource"] {
		if r != "" {
			aud = append(aud, r)
		}
	}
	return aud
}

// lifetimeFor returns a client's token lifetime: its own if set, capped by
// the server's maximum, or the server default.
func (s *Server) lifetimeFor(clientTTL time.Duration) time.Duration {
	switch {
	case clientTTL <= 0:
		return s.cfg.TokenLifetime
	case clientTTL > s.cfg.MaxTokenLifetime:
		return s.cfg.MaxTokenLifetime
	}
	return clientTTL
}

// fillSession grants scope and audience and writes the token's claims
// into the request's session. JTI and both homes of sub are set here:
// fosite would otherwise invent a new jti on every ToMap (fosite notes,
// pitfalls 3 and 4).
func (s *Server) fillSession(ctx context.Context, ar fosite.AccessRequester, scope, aud []string, lifetime time.Duration, sub string, extra map[string]any) {
	for _, sc := range scope {
		ar.GrantScope(sc)
	}
	for _, a := range aud {
		ar.GrantAudience(a)
	}
	now := s.now().UTC().Truncate(time.Second)
	exp := now.Add(lifetime)
	sess := ar.GetSession().(*fositeoauth2.JWTSession)
	sess.JWTClaims = &jwt.JWTClaims{
		Subject:   sub,
		Issuer:    s.cfg.Issuer,
		JTI:       newJTI(),
		IssuedAt:  now,
		ExpiresAt: exp,
		Extra:     extra,
	}
	sess.Subject = sub
	sess.SetExpiresAt(fosite.AccessToken, exp)
	stateFrom(ctx).lifetime = lifetime
}
