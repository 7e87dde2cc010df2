package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/errcode"
	"github.com/authz/authz/store"
)

// defaultMaxTokenLifetime bounds a client's access-token lifetime when the
// server sets no bound: retired signing keys stay published that long, so
// it cannot be unbounded.
const defaultMaxTokenLifetime = 24 * time.Hour

// clientSettings are the validated, changeable settings of a client.
type clientSettings struct {
	name       string
	grantTypes []string
	scopes     []string
	audiences  []string
	ttl        time.Duration
	jwks       json.RawMessage
	jwksURI    string
}

func (s *clientSettings) check(method, tenantID string, maxTTL time.Duration) error {
	var err error
	if s.name != "" {
		if err := checkName("name", s.name, 200); err != nil {
			return err
		}
	}
	if len(s.grantTypes) == 0 {
		s.grantTypes = []string{store.GrantClientCredentials}
	}
	if s.grantTypes, err = checkTokens("grant_types", s.grantTypes, 2); err != nil {
		return err
	}
	for _, g := range s.grantTypes {
		if g != store.GrantClientCredentials && g != store.GrantTokenExchange {
			return invalid("grant_types", "%q is not supported; use %s or %s", g, store.GrantClientCredentials, store.GrantTokenExchange)
		}
	}
	if s.scopes, err = checkGrants("scopes", s.scopes, tenantID); err != nil {
		return err
	}
	if s.audiences, err = checkTokens("audiences", s.audiences, 64); err != nil {
		return err
	}
	slices.Sort(s.audiences)
	if s.ttl < 0 || s.ttl > maxTTL {
		return invalid("access_token_lifetime", "must be 0 (the server default) to %d seconds", int64(maxTTL.Seconds()))
	}
	if method != store.AuthPrivateKeyJWT {
		if len(s.jwks) > 0 || s.jwksURI != "" {
			return invalid("jwks", "only for auth_method private_key_jwt; %s clients authenticate with the generated secret", method)
		}
		return nil
	}
	switch {
	case (len(s.jwks) > 0) == (s.jwksURI != ""):
		return invalid("jwks", "private_key_jwt needs exactly one of jwks (the client's public keys) or jwks_uri")
	case len(s.jwks) > 0:
		return checkJWKS(s.jwks)
	default:
		return checkJWKSURI(s.jwksURI)
	}
}

// checkJWKS accepts a JWK Set of public signing keys only: a private key
// pasted here would sit in the database and in every listing.
func checkJWKS(raw json.RawMessage) error {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		return invalid("jwks", "not a JWK Set: %v", err)
	}
	if len(set.Keys) == 0 {
		return invalid("jwks", "has no keys")
	}
	for i, k := range set.Keys {
		switch {
		case !k.Valid():
			return invalid(fmt.Sprintf("jwks.keys[%d]", i), "not a valid key")
		case !k.IsPublic():
			return invalid(fmt.Sprintf("jwks.keys[%d]", i), "is a private key; register only the public key")
		case k.Use != "" && k.Use != "sig":
			return invalid(fmt.Sprintf("jwks.keys[%d]", i), "use must be sig")
		}
	}
	return nil
}

func checkJWKSURI(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return invalid("jwks_uri", "must be an absolute https URL")
	}
	local := u.Hostname() == "localhost" || u.Hostname() == "127.0.0.1" || u.Hostname() == "::1"
	if u.Scheme != "https" && !(u.Scheme == "http" && local) {
		return invalid("jwks_uri", "must be an https URL (http only for localhost)")
	}
	return nil
}

func (h *handler) createClient(w http.ResponseWriter, r *http.Request, c *call) error {
	var req apiv1.CreateClient
	if err := decode(w, r, &req, maxBody, false); err != nil {
		return err
	}
	if req.OwnerID == "" {
		return invalid("owner_id", "required: the principal the client acts for")
	}
	method := req.AuthMethod
	if method == "" {
		method = store.AuthSecretBasic
	}
	if method != store.AuthSecretBasic && method != store.AuthSecretPost && method != store.AuthPrivateKeyJWT {
		return invalid("auth_method", "must be %s, %s or %s", store.AuthSecretBasic, store.AuthSecretPost, store.AuthPrivateKeyJWT)
	}
	ttl, err := seconds(req.AccessTokenLifetime, "access_token_lifetime")
	if err != nil {
		return err
	}
	set := clientSettings{name: req.Name, grantTypes: req.GrantTypes, scopes: req.Scopes, audiences: req.Audiences, ttl: ttl, jwks: req.JWKS, jwksURI: req.JWKSURI}
	ctx := r.Context()
	now := h.stamp()
	cl := store.Client{
		ID:              store.NewID(store.PrefixClient),
		AuthMethod:      method,
		Status:          store.StatusActive,
		StatusChangedAt: now,
		StatusChangedBy: c.actor,
		CreatedAt:       now,
		UpdatedAt:       now,
	}
	var secret string
	err = h.st.Tx(ctx, func(tx store.Tx) error {
		t, err := tenantFor(ctx, tx, c, req.TenantID)
		if err != nil {
			return err
		}
		if err := set.check(method, t.ID, h.maxTTL); err != nil {
			return err
		}
		if err := h.checkClientAudiences(ctx, tx, t.ID, set.audiences); err != nil {
			return err
		}
		owner, err := tx.GetPrincipal(ctx, req.OwnerID)
		if err != nil {
			return storeErr(err, "principal", req.OwnerID, "")
		}
		switch {
		case !c.sees(owner.TenantID):
			return notFound("principal", req.OwnerID)
		case !c.owns(owner.TenantID, owner.ID):
			return errcode.Newf(errcode.Forbidden, "owner_id: you may create clients only for yourself (%s)", c.access.Owner)
		case owner.TenantID != t.ID:
			return invalid("owner_id", "principal %s is in tenant %s, not %s", owner.ID, owner.TenantID, t.ID)
		case owner.Status == store.StatusDeleted:
			return invalid("owner_id", "principal %s was deleted", owner.ID)
		}
		cl.TenantID, cl.OwnerID = t.ID, owner.ID
		cl.Name, cl.GrantTypes, cl.Scopes, cl.Audiences = set.name, set.grantTypes, set.scopes, set.audiences
		cl.AccessTokenTTL, cl.JWKS, cl.JWKSURI = set.ttl, set.jwks, set.jwksURI
		if method != store.AuthPrivateKeyJWT {
			var s store.ClientSecret
			secret, s = h.secrets.New(now)
			cl.Secrets = []store.ClientSecret{s}
		}
		if err := tx.CreateClient(ctx, cl); err != nil {
			return storeErr(err, "client", cl.ID, "client id already exists; retry")
		}
		return h.record(ctx, tx, c, "client.create", "client:"+cl.ID, cl.TenantID, nil, clientView(cl))
	})
	if err != nil {
		return err
	}
	v := clientView(cl)
	v.ClientSecret = secret
	return reply(w, http.StatusCreated, v)
}

func (h *handler) listClients(w http.ResponseWriter, r *http.Request, c *call) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	status, err := statusParam(r, store.StatusActive, store.StatusSuspended)
	if err != nil {
		return err
	}
	tenant, ok := c.listTenant(q.Get("tenant_id"))
	owner, mine := c.listOwner(q.Get("owner_id"))
	if !ok || !mine {
		return reply(w, http.StatusOK, list([]apiv1.Client(nil), ""))
	}
	cs, next, err := h.st.ListClients(r.Context(), store.ClientFilter{TenantID: tenant, OwnerID: owner, Status: status}, p)
	if err != nil {
		return err
	}
	items := make([]apiv1.Client, 0, len(cs))
	for _, cl := range cs {
		items = append(items, clientView(cl))
	}
	return reply(w, http.StatusOK, list(items, next))
}

func (h *handler) getClient(w http.ResponseWriter, r *http.Request, c *call) error {
	id := r.PathValue("id")
	cl, err := h.st.GetClient(r.Context(), id)
	if err != nil {
		return storeErr(err, "client", id, "")
	}
	if !c.owns(cl.TenantID, cl.OwnerID) {
		return notFound("client", id)
	}
	return reply(w, http.StatusOK, clientView(cl))
}

func (h *handler) updateClient(w http.ResponseWriter, r *http.Request, c *call) error {
	var req apiv1.UpdateClient
	if err := decode(w, r, &req, maxBody, false); err != nil {
		return err
	}
	var ttl *time.Duration
	if req.AccessTokenLifetime != nil {
		d, err := seconds(*req.AccessTokenLifetime, "access_token_lifetime")
		if err != nil {
			return err
		}
		ttl = &d
	}
	change := func(cl store.Client) (store.Client, error) {
		set := clientSettings{name: cl.Name, grantTypes: cl.GrantTypes, scopes: cl.Scopes, audiences: cl.Audiences, ttl: cl.AccessTokenTTL, jwks: cl.JWKS, jwksURI: cl.JWKSURI}
		if req.Name != nil {
			set.name = *req.Name
		}
		if req.GrantTypes != nil {
			set.grantTypes = *req.GrantTypes
		}
		if req.Scopes != nil {
			set.scopes = *req.Scopes
		}
		if req.Audiences != nil {
			set.audiences = *req.Audiences
		}
		if ttl != nil {
			set.ttl = *ttl
		}
		if req.JWKS != nil {
			set.jwks, set.jwksURI = *req.JWKS, ""
		}
		if req.JWKSURI != nil {
			set.jwksURI = *req.JWKSURI
			if req.JWKS == nil {
				set.jwks = nil
			}
		}
		if err := set.check(cl.AuthMethod, cl.TenantID, h.maxTTL); err != nil {
			return cl, err
		}
		next := cl
		next.Name, next.GrantTypes, next.Scopes, next.Audiences = set.name, set.grantTypes, set.scopes, set.audiences
		next.AccessTokenTTL, next.JWKS, next.JWKSURI = set.ttl, set.jwks, set.jwksURI
		if sameClientSettings(cl, next) {
			return cl, errUnchanged
		}
		next.UpdatedAt = h.stamp()
		return next, nil
	}
	cl, err := update(h, r, c, clientKind(), mutation[store.Client]{id: r.PathValue("id"), action: "client.update", change: change,
		also: func(ctx context.Context, tx store.Tx, _, after store.Client) error {
			// Audiences kept from before are checked at the token endpoint;
			// a new list must hold only audiences the tenant may request.
			if req.Audiences == nil {
				return nil
			}
			return h.checkClientAudiences(ctx, tx, after.TenantID, after.Audiences)
		}})
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, clientView(cl))
}

func sameClientSettings(a, b store.Client) bool {
	return a.Name == b.Name && slices.Equal(a.GrantTypes, b.GrantTypes) && slices.Equal(a.Scopes, b.Scopes) &&
		slices.Equal(a.Audiences, b.Audiences) && a.AccessTokenTTL == b.AccessTokenTTL &&
		string(a.JWKS) == string(b.JWKS) && a.JWKSURI == b.JWKSURI
}

func (h *handler) rotateSecret(w http.ResponseWriter, r *http.Request, c *call) error {
	var req apiv1.Rotate
	if err := decode(w, r, &req, maxBody, true); err != nil {
		return err
	}
	overlap := apiv1.DefaultOverlap
	if req.Overlap != nil {
		var err error
		if overlap, err = seconds(*req.Overlap, "overlap"); err != nil {
			return err
		}
	}
	var secret string
	return h.changeClient(w, r, c, "client.rotate_secret", "", &secret, func(cl store.Client) (store.Client, error) {
		if cl.AuthMethod == store.AuthPrivateKeyJWT {
			return cl, errcode.Newf(errcode.RequestInvalid, "client %s authenticates with private_key_jwt and has no secret; update its jwks instead", cl.ID)
		}
		now := h.stamp()
		secret, cl.Secrets = h.secrets.Rotate(cl, overlap, now)
		cl.UpdatedAt = now
		return cl, nil
	})
}

func (h *handler) suspendClient(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := decode(w, r, &struct{}{}, maxBody, true); err != nil {
		return err
	}
	return h.changeClient(w, r, c, "client.suspend", "suspend", nil, h.clientStatus(c, store.StatusSuspended))
}

func (h *handler) resumeClient(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := decode(w, r, &struct{}{}, maxBody, true); err != nil {
		return err
	}
	return h.changeClient(w, r, c, "client.resume", "", nil, h.clientStatus(c, store.StatusActive))
}

func (h *handler) clientStatus(c *call, status store.Status) func(store.Client) (store.Client, error) {
	return func(cl store.Client) (store.Client, error) {
		if cl.Status == status {
			return cl, errUnchanged
		}
		now := h.stamp()
		cl.Status, cl.StatusChangedAt, cl.StatusChangedBy, cl.UpdatedAt = status, now, c.actor, now
		return cl, nil
	}
}

// changeClient applies one change to a client. lockout, when set, names a
// change that would lock the caller out if applied to its own client.
// secret, when not nil, holds the secret the change generated, returned
// once in client_secret.
func (h *handler) changeClient(w http.ResponseWriter, r *http.Request, c *call, action, lockout string, secret *string, fn func(store.Client) (store.Client, error)) error {
	id := r.PathValue("id")
	if lockout != "" && id == c.ClientID {
		return errcode.Newf(errcode.RequestInvalid, "id: %s is the client you are authenticated as; %s it with another admin client", id, lockout)
	}
	cl, err := update(h, r, c, clientKind(), mutation[store.Client]{id: id, action: action, change: fn})
	if err != nil {
		return err
	}
	v := clientView(cl)
	if secret != nil {
		v.ClientSecret = *secret
	}
	return reply(w, http.StatusOK, v)
}

func (h *handler) deleteClient(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx := r.Context()
	id := r.PathValue("id")
	if id == c.ClientID {
		return errcode.Newf(errcode.RequestInvalid, "id: %s is the client you are authenticated as; delete it with another admin client", id)
	}
	err := h.st.Tx(ctx, func(tx store.Tx) error {
		cl, err := tx.GetClient(ctx, id)
		if err != nil {
			return storeErr(err, "client", id, "")
		}
		if !c.sees(cl.TenantID) {
			return notFound("client", id)
		}
		if err := tx.DeleteClient(ctx, id, h.stamp()); err != nil {
			return storeErr(err, "client", id, "")
		}
		return h.record(ctx, tx, c, "client.delete", "client:"+id, cl.TenantID, clientView(cl), nil)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
