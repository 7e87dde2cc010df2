package oauth

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/ory/fosite"

	"github.com/authz/authz/errcode"
	"github.com/authz/authz/reqmeta"
	"github.com/authz/authz/store"
)

const assertionTypeJWTBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// credentials is what a request presented to authenticate its client.
type credentials struct {
	method    string // store.AuthSecretBasic, store.AuthSecretPost, store.AuthPrivateKeyJWT, or "" for none
	clientID  string
	secret    string
	assertion string
}

// errNoCredentials marks a request that presented no client credentials at
// all; grants that allow anonymous callers (the key exchange) accept it.
var errNoCredentials = errcode.New(errcode.ClientInvalid, "Client authentication is required: use HTTP Basic (client_secret_basic), client_id and client_secret in the body (client_secret_post), or a client assertion (private_key_jwt).")

// presentedCredentials reads the client credentials of a token-endpoint
// style request. Using more than one method at once is refused (RFC 6749
// §2.3: "MUST NOT use more than one authentication method").
func presentedCredentials(r *http.Request, form url.Values) (credentials, error) {
	var c credentials
	methods := 0
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, rest, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Basic") {
			return c, errcode.New(errcode.ClientInvalid, "The Authorization header must use the Basic scheme for client authentication.")
		}
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
		if err != nil {
			return c, errcode.New(errcode.ClientInvalid, "The Basic credentials are not valid base64.")
		}
		user, pass, ok := strings.Cut(string(raw), ":")
		if !ok {
			return c, errcode.New(errcode.ClientInvalid, "The Basic credentials must be client_id:client_secret.")
		}
		// RFC 6749 §2.3.1: both parts are form-urlencoded before Basic.
		if c.clientID, err = url.QueryUnescape(user); err != nil {
			return c, errcode.New(errcode.ClientInvalid, "The Basic user name is not form-urlencoded.")
		}
		if c.secret, err = url.QueryUnescape(pass); err != nil {
			return c, errcode.New(errcode.ClientInvalid, "The Basic password is not form-urlencoded.")
		}
		c.method = store.AuthSecretBasic
		methods++
	}
	if form.Has("client_secret") {
		if c.method == "" {
			c.clientID, c.secret = form.Get("client_id"), form.Get("client_secret")
			c.method = store.AuthSecretPost
		}
		methods++
	}
	if t := form.Get("client_assertion_type"); t != "" || form.Has("client_assertion") {
		if t != assertionTypeJWTBearer {
			return c, errcode.Newf(errcode.ClientInvalid, "client_assertion_type must be %s.", assertionTypeJWTBearer)
		}
		if c.method == "" {
			c.assertion = form.Get("client_assertion")
			c.clientID = form.Get("client_id") // optional; must match the assertion if given
			c.method = store.AuthPrivateKeyJWT
		}
		methods++
	}
	if methods > 1 {
		return c, errcode.New(errcode.RequestInvalid, "Use exactly one client authentication method per request (RFC 6749 §2.3).")
	}
	if id := form.Get("client_id"); id != "" && c.method == store.AuthSecretBasic && id != c.clientID {
		return c, errcode.New(errcode.RequestInvalid, "client_id in the body differs from the client authenticated by HTTP Basic.")
	}
	if c.method == "" && form.Get("client_id") != "" {
		c.clientID = form.Get("client_id")
		return c, errcode.New(errcode.ClientInvalid, "This client must authenticate: public clients are not supported.")
	}
	if c.method == "" {
		return c, errNoCredentials
	}
	return c, nil
}

// hasCredentials reports whether the request tried to authenticate a client.
func hasCredentials(r *http.Request, form url.Values) bool {
	return r.Header.Get("Authorization") != "" || form.Has("client_id") || form.Has("client_secret") ||
		form.Has("client_assertion") || form.Has("client_assertion_type")
}

// authedClient is an authenticated, active client with its owner and
// tenant: what fosite sees as the request's client.
type authedClient struct {
	c      store.Client
	owner  store.Principal
	tenant store.Tenant
	method string
}

var _ fosite.Client = (*authedClient)(nil)

func (a *authedClient) GetID() string                      { return a.c.ID }
func (a *authedClient) GetHashedSecret() []byte            { return nil }
func (a *authedClient) GetRedirectURIs() []string          { return nil }
func (a *authedClient) GetGrantTypes() fosite.Arguments    { return a.c.GrantTypes }
func (a *authedClient) GetResponseTypes() fosite.Arguments { return nil }
func (a *authedClient) GetScopes() fosite.Arguments        { return a.c.Scopes }
func (a *authedClient) IsPublic() bool                     { return false }
func (a *authedClient) GetAudience() fosite.Arguments      { return a.c.Audiences }

// keyHolder is the request's client when a legacy key is exchanged
// without client authentication: the key itself is the credential.
type keyHolder struct{ id string }

var _ fosite.Client = keyHolder{}

func (k keyHolder) GetID() string                    { return k.id }
func (keyHolder) GetHashedSecret() []byte            { return nil }
func (keyHolder) GetRedirectURIs() []string          { return nil }
func (keyHolder) GetGrantTypes() fosite.Arguments    { return fosite.Arguments{store.GrantTokenExchange} }
func (keyHolder) GetResponseTypes() fosite.Arguments { return nil }
func (keyHolder) GetScopes() fosite.Arguments        { return nil }
func (keyHolder) IsPublic() bool                     { return true }
func (keyHolder) GetAudience() fosite.Arguments      { return nil }

// authenticateClient is fosite's ClientAuthenticationStrategy.
func (s *Server) authenticateClient(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error) {
	a, err := s.authenticate(ctx, r, form)
	if err != nil {
		return nil, err
	}
	return a, nil
}

// authenticate identifies and checks the calling client. The order matters
// for what a caller can learn: the credential is verified first, and only a
// caller that proved possession of it is told that the client, its owner or
// its tenant is suspended.
func (s *Server) authenticate(ctx context.Context, r *http.Request, form url.Values) (*authedClient, error) {
	st := stateFrom(ctx)
	creds, err := presentedCredentials(r, form)
	if creds.clientID != "" && !store.WellFormedClientID(creds.clientID) {
		// No client can have this id: refuse before it becomes an audit
		// actor or target (sampled, as "request") or a lockout key.
		return nil, errcode.Newf(errcode.ClientInvalid, "The client_id is malformed: client ids are 1 to %d visible ASCII characters, without spaces or control characters.", store.MaxClientIDLen)
	}
	if creds.clientID != "" {
		st.wellFormed = true
		st.actor = "client:" + creds.clientID
		st.target = "client:" + creds.clientID
	}
	if err != nil {
		return nil, err
	}
	if st.wellFormed {
		if err := s.guard(ctx, kindClient, creds.clientID, s.clientLimitKey(ctx, creds.clientID)); err != nil {
			return nil, err
		}
	}
	var c store.Client
	secretID := "" // the secret that matched, whose use is recorded
	switch creds.method {
	case store.AuthSecretBasic, store.AuthSecretPost:
		c, secretID, err = s.checkSecret(ctx, creds)
	case store.AuthPrivateKeyJWT:
		c, err = s.checkAssertion(ctx, creds)
		if c.ID != "" {
			st.wellFormed = true
			st.actor, st.target = "client:"+c.ID, "client:"+c.ID
		}
	}
	if err != nil {
		if id := firstNonEmpty(c.ID, creds.clientID); errcode.Of(err) == errcode.ClientInvalid && st.wellFormed && id != "" {
			// An assertion that fails is its sender's failure, counted
			// against the sender's address: whoever signed it with a key
			// the client never registered cannot lock the client out, and
			// a signature is not something to guess.
			s.failed(ctx, kindClient, id, creds.method == store.AuthPrivateKeyJWT)
		}
		return nil, err
	}
	s.succeeded(ctx, kindClient, c.ID)
	st.tenantID = c.TenantID
	st.actorClient, st.actorOwner = c.ID, c.OwnerID
	a := &authedClient{c: c, method: creds.method}
	if err := s.activeChain(ctx, s.deps.Directory, a); err != nil {
		return nil, err
	}
	s.deps.Usage.ClientUsed(c.ID, secretID, s.now())
	return a, nil
}

// checkSecret verifies a client secret in constant time against every
// live secret of the client (two during a rotation overlap), and returns
// the id of the one that matched.
func (s *Server) checkSecret(ctx context.Context, creds credentials) (store.Client, string, error) {
	c, err := s.deps.Directory.GetClient(ctx, creds.clientID)
	if errors.Is(err, store.ErrNotFound) {
		// The same work as a wrong secret of a known client (hash, then a
		// constant-time compare against a stored hash), so that timing
		// does not tell which client ids exist.
		s.deps.Secrets.MatchID(s.dummyClient, creds.secret, s.now())
		return store.Client{}, "", errcode.New(errcode.ClientInvalid, "Unknown client or wrong client secret.")
	}
	if err != nil {
		return store.Client{}, "", fmt.Errorf("authenticate client: %w", err)
	}
	secretID, ok := s.deps.Secrets.MatchID(c, creds.secret, s.now())
	if !ok {
		return store.Client{}, "", errcode.New(errcode.ClientInvalid, "Unknown client or wrong client secret.")
	}
	if c.AuthMethod == store.AuthPrivateKeyJWT {
		return store.Client{}, "", errcode.New(errcode.ClientInvalid, "This client authenticates with private_key_jwt, not a secret.")
	}
	// The registered method is enforced (RFC 7591 token_endpoint_auth_method,
	// issue 18 §7): a secret meant for the Authorization header must not be
	// accepted where bodies get logged, and the other way round is a
	// misconfiguration the operator should see. Told only after the secret
	// matched, so it reveals nothing to a guesser; not a failed guess
	// either, so it has its own code rather than client_invalid.
	if c.AuthMethod != "" && c.AuthMethod != creds.method {
		return store.Client{}, "", errcode.Newf(errcode.ClientAuthMethod,
			"Client %s is registered with token_endpoint_auth_method %s, but the request used %s; %s.",
			c.ID, c.AuthMethod, creds.method, howTo(c.AuthMethod))
	}
	return c, secretID, nil
}

// howTo says how a request authenticates with a secret method.
func howTo(method string) string {
	if method == store.AuthSecretPost {
		return "send client_id and client_secret in the form body, without an Authorization header"
	}
	return "send client_id:client_secret as HTTP Basic, not in the body"
}

// activeChain refuses a client that is suspended, or whose owner or tenant
// is not active (SPEC §3 client_suspended), saying which.
func (s *Server) activeChain(ctx context.Context, dir Directory, a *authedClient) error {
	if a.c.Status != store.StatusActive {
		return errcode.Newf(errcode.ClientSuspended, "Client %s is %s; an administrator must resume it.", a.c.ID, a.c.Status)
	}
	owner, err := dir.GetPrincipal(ctx, a.c.OwnerID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return errcode.Newf(errcode.ClientSuspended, "The owner of client %s does not exist; an administrator must give the client an active owner.", a.c.ID)
	case err != nil:
		return fmt.Errorf("client owner: %w", err)
	case owner.Status != store.StatusActive:
		return errcode.Newf(errcode.ClientSuspended, "The owner of client %s (principal %s) is %s; an administrator must resume the owner.", a.c.ID, owner.ID, owner.Status)
	}
	tenant, err := dir.GetTenant(ctx, a.c.TenantID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return errcode.Newf(errcode.ClientSuspended, "The tenant of client %s does not exist.", a.c.ID)
	case err != nil:
		return fmt.Errorf("client tenant: %w", err)
	case tenant.Status != store.StatusActive:
		return errcode.Newf(errcode.ClientSuspended, "The tenant of client %s (%s) is %s; contact the tenant's administrator.", a.c.ID, tenant.ID, tenant.Status)
	}
	a.owner, a.tenant = owner, tenant
	return nil
}

// clientLimitKey is the rate-limit bucket of a client's request. A client
// exchanging legacy keys on others' behalf (a gateway's bridge) is limited
// per caller address, which a gateway in --trusted-proxy tells in
// X-Forwarded-For: one flooding caller then uses up its own bucket, not
// the gateway's, and the others' exchanges go on.
func (s *Server) clientLimitKey(ctx context.Context, clientID string) string {
	if stateFrom(ctx).grant == "token_exchange" {
		return clientID + "\x00" + reqmeta.From(ctx).ClientAddr
	}
	return clientID
}
