package admin

import (
	"context"
	"net/http"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/errcode"
	"github.com/authz/authz/jwks"
)

// SigningKeys is the part of *jwks.Manager the admin API drives. The
// manager audits its own changes, in the transaction that makes them.
type SigningKeys interface {
	List(ctx context.Context) ([]jwks.KeyInfo, error)
	Rotate(ctx context.Context) (jwks.KeyInfo, error)
	Withdraw(ctx context.Context, kid string) error
}

func signingKeyView(k jwks.KeyInfo) apiv1.SigningKey {
	return apiv1.SigningKey{
		ID:          k.KID,
		Alg:         k.Alg,
		State:       string(k.State),
		CreatedAt:   k.CreatedAt.UTC(),
		PublishedAt: k.PublishedAt.UTC(),
		ActivatedAt: utcPtr(k.ActivatedAt),
		RetiredAt:   utcPtr(k.RetiredAt),
		RemoveAfter: utcPtr(k.RemoveAfter),
	}
}

var errNoSigningKeys = errcode.New(errcode.Unavailable, "signing keys are not managed by this admin API instance")

func (h *handler) listSigningKeys(w http.ResponseWriter, r *http.Request, _ *call) error {
	if h.signing == nil {
		return errNoSigningKeys
	}
	ks, err := h.signing.List(r.Context())
	if err != nil {
		return err
	}
	items := make([]apiv1.SigningKey, 0, len(ks))
	for _, k := range ks {
		items = append(items, signingKeyView(k))
	}
	return reply(w, http.StatusOK, list(items, ""))
}

func (h *handler) rotateSigningKey(w http.ResponseWriter, r *http.Request, _ *call) error {
	if h.signing == nil {
		return errNoSigningKeys
	}
	if err := decode(w, r, &struct{}{}, maxBody, true); err != nil {
		return err
	}
	k, err := h.signing.Rotate(r.Context())
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, signingKeyView(k))
}

func (h *handler) withdrawSigningKey(w http.ResponseWriter, r *http.Request, _ *call) error {
	if h.signing == nil {
		return errNoSigningKeys
	}
	if err := decode(w, r, &struct{}{}, maxBody, true); err != nil {
		return err
	}
	if err := h.signing.Withdraw(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
