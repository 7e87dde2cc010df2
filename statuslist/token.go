package statuslist

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// TokenType is the typ header of a Status List Token in JWT format, and
// MediaType the Content-Type it is served with (draft §5.1, §8.2).
const (
	TokenType = "statuslist+jwt"
	MediaType = "application/statuslist+jwt"
)

// Reference is the "status" claim of a referenced token (draft §6.1):
// {"status_list": {"idx": N, "uri": "..."}}.
type Reference struct {
	StatusList *ListReference `json:"status_list,omitempty"`
}

// ListReference points at entry Idx of the Status List Token at URI.
type ListReference struct {
	Idx int64  `json:"idx"`
	URI string `json:"uri"`
}

// ErrNoReference: the claims carry no usable status_list reference.
var ErrNoReference = errors.New("statuslist: no status_list reference")

// ParseReference reads the "status" claim of a referenced token's claims
// (the JSON payload of the JWT).
func ParseReference(claims []byte) (ListReference, error) {
	var c struct {
		Status *struct {
			StatusList *struct {
				Idx *int64  `json:"idx"`
				URI *string `json:"uri"`
			} `json:"status_list"`
		} `json:"status"`
	}
	if err := json.Unmarshal(claims, &c); err != nil {
		return ListReference{}, fmt.Errorf("%w: %v", ErrNoReference, err)
	}
	if c.Status == nil || c.Status.StatusList == nil {
		return ListReference{}, ErrNoReference
	}
	sl := c.Status.StatusList
	switch {
	case sl.Idx == nil || *sl.Idx < 0:
		return ListReference{}, fmt.Errorf("%w: idx missing or negative", ErrNoReference)
	case sl.URI == nil || *sl.URI == "":
		return ListReference{}, fmt.Errorf("%w: uri missing", ErrNoReference)
	}
	return ListReference{Idx: *sl.Idx, URI: *sl.URI}, nil
}

// Token is the claims set of a Status List Token (draft §5.1).
type Token struct {
	// Issuer equals the iss of the referenced tokens.
	Issuer string `json:"iss,omitempty"`
	// Subject is the list's URI: the uri of the references to it.
	Subject  string `json:"sub"`
	IssuedAt int64  `json:"iat"`
	// Expiry, if set, is when the list must no longer be relied on.
	Expiry int64 `json:"exp,omitempty"`
	// TTL is how many seconds a consumer may cache the token before it
	// fetches a fresh one.
	TTL        int64   `json:"ttl,omitempty"`
	StatusList Encoded `json:"status_list"`
	// JWKSKids (authz extension, "jwks_kids") are the kids the issuer's
	// JWKS published when the list was signed. A verifier refuses access
	// tokens signed by a kid its cached JWKS still holds but the newest
	// list omits: an emergency withdrawal (`authz signing-key withdraw`)
	// then reaches gateways with the list, within its ttl, instead of with
	// their next JWKS reload. Absent (nil): the issuer says nothing, and
	// the JWKS alone decides.
	JWKSKids []string `json:"jwks_kids,omitempty"`
}

// Encoded is the "status_list" claim: a List in JSON (draft §4.2).
type Encoded struct {
	Bits int    `json:"bits"`
	Lst  string `json:"lst"`
}

// Decode decodes the list.
func (e Encoded) Decode() (*List, error) { return Decode(e.Bits, e.Lst) }

// ErrTokenInvalid: a Status List Token's claims do not hold.
var ErrTokenInvalid = errors.New("statuslist: status list token invalid")

// ParseToken decodes the claims of a Status List Token whose signature and
// typ the caller has verified, checks them against the reference it
// resolves (sub must equal uri; iss must equal the referenced token's iss
// when given) at now, with leeway for clock skew, and decodes the list.
func ParseToken(claims []byte, uri, iss string, now time.Time, leeway time.Duration) (*Token, *List, error) {
	var t Token
	if err := json.Unmarshal(claims, &t); err != nil {
		return nil, nil, fmt.Errorf("%w: claims: %v", ErrTokenInvalid, err)
	}
	switch {
	case t.Subject == "" || t.Subject != uri:
		return nil, nil, fmt.Errorf("%w: sub %q is not the referenced uri %q", ErrTokenInvalid, t.Subject, uri)
	case iss != "" && t.Issuer != iss:
		return nil, nil, fmt.Errorf("%w: iss %q is not %q", ErrTokenInvalid, t.Issuer, iss)
	case t.IssuedAt <= 0:
		return nil, nil, fmt.Errorf("%w: iat missing", ErrTokenInvalid)
	case t.IssuedAt > now.Add(leeway).Unix():
		return nil, nil, fmt.Errorf("%w: iat is in the future", ErrTokenInvalid)
	case t.Expiry != 0 && now.Add(-leeway).Unix() >= t.Expiry:
		return nil, nil, fmt.Errorf("%w: expired", ErrTokenInvalid)
	case t.TTL < 0:
		return nil, nil, fmt.Errorf("%w: ttl is negative", ErrTokenInvalid)
	}
	l, err := t.StatusList.Decode()
	if err != nil {
		return nil, nil, err
	}
	return &t, l, nil
}
