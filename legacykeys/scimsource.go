package legacykeys

import (
	"context"
	"errors"
	"fmt"

	"github.com/authz/authz/store"
)

// OwnerSource is the identity provider that governs a key's owner through
// SCIM (SPEC §2 "Principal source"), so that a diagnosis can say
// "suspended by Okta via SCIM" rather than "by scim:sct_...".
type OwnerSource struct {
	TokenID   string `json:"token_id"`
	TokenName string `json:"token_name,omitempty"`
	// LinkedBy is the attribute that linked an existing principal
	// ("externalId" or "userName"); empty when SCIM created it.
	LinkedBy   string `json:"linked_by,omitempty"`
	UserName   string `json:"user_name"`
	ExternalID string `json:"external_id,omitempty"`
}

// ownerSource reads the owner's SCIM source, nil if no IdP governs it,
// and names the IdP in change when SCIM made it.
func ownerSource(ctx context.Context, q store.Queries, principalID string, change *StatusChange) (*OwnerSource, error) {
	u, err := q.GetSCIMUser(ctx, principalID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("legacykeys: diagnose: read SCIM source of %s: %w", principalID, err)
	}
	src := &OwnerSource{TokenID: u.TokenID, LinkedBy: u.LinkedBy, UserName: u.UserName, ExternalID: u.ExternalID}
	if t, err := q.GetSCIMToken(ctx, u.TokenID); err == nil {
		src.TokenName = t.Name
	}
	if change != nil && len(change.By) > len("scim:") && change.By[:len("scim:")] == "scim:" {
		name := src.TokenName
		if name == "" || change.By != "scim:"+u.TokenID {
			name = change.By
		}
		change.Via = name + " via SCIM"
	}
	return src, nil
}
