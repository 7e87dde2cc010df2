package jwks

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/authz/authz/masterkey"
	"github.com/authz/authz/store"
)

// rsaBits is the modulus size of generated RS256 keys.
const rsaBits = 2048

// material is one key pair as loaded from the store. It never changes after
// loading, so successive snapshots share it, and its go-jose signers are
// built once per kid (and typ) rather than once per token.
type material struct {
	kid        string
	alg        jose.SignatureAlgorithm
	private    jose.JSONWebKey // carries kid, so signers put it in the header
	public     jose.JSONWebKey // kid, alg, use "sig"; public members only
	publicJSON []byte

	signers  sync.Map // typ (string) → jose.Signer
	compacts sync.Map // typ (string) → *compactSigner
}

// signer returns the cached go-jose signer for tokens of type typ. The
// header it writes is alg, kid and typ, nothing a caller can change.
func (k *material) signer(typ string) (jose.Signer, error) {
	if s, ok := k.signers.Load(typ); ok {
		return s.(jose.Signer), nil
	}
	s, err := k.newSigner(typ, nil)
	if err != nil {
		return nil, err
	}
	actual, _ := k.signers.LoadOrStore(typ, s)
	return actual.(jose.Signer), nil
}

// newSigner builds an uncached signer with extra protected header members.
// go-jose lets extra headers override alg and kid, so callers filter them.
func (k *material) newSigner(typ string, extra map[string]any) (jose.Signer, error) {
	opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ))
	for name, v := range extra {
		opts = opts.WithHeader(jose.HeaderKey(name), v)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: k.private}, opts)
	if err != nil {
		return nil, fmt.Errorf("jwks: signer for key %s: %w", k.kid, err)
	}
	return s, nil
}

// generateKey creates a key pair of alg and returns its store row: the
// private JWK sealed under the master key and bound to its kid, and the
// public JWK as published.
func generateKey(alg string, sealer *masterkey.Sealer, now time.Time) (store.SigningKey, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case RS256:
		priv, err = rsa.GenerateKey(rand.Reader, rsaBits)
	default:
		err = fmt.Errorf("unsupported algorithm %q", alg)
	}
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("jwks: generate %s key: %w", alg, err)
	}
	jwk := jose.JSONWebKey{Key: priv, Algorithm: alg, Use: "sig"}
	kid, err := thumbprint(&jwk)
	if err != nil {
		return store.SigningKey{}, err
	}
	jwk.KeyID = kid
	privJSON, err := jwk.MarshalJSON()
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("jwks: encode key %s: %w", kid, err)
	}
	sealed := sealer.Seal(privJSON, []byte(kid))
	clear(privJSON)
	m, err := newMaterial(jwk)
	if err != nil {
		return store.SigningKey{}, err
	}
	row := store.SigningKey{
		KID:         kid,
		Alg:         alg,
		State:       store.SigningNext,
		Private:     sealed,
		Public:      m.publicJSON,
		CreatedAt:   now,
		PublishedAt: now,
	}
	return row, nil
}

// errWrongMasterKey explains the one failure an operator can fix without
// reading code: the server runs with another master key than the one that
// created its signing keys.
func errWrongMasterKey(kid string) error {
	return fmt.Errorf("jwks: signing key %s does not open: the master key (AUTHZ_MASTER_KEY or its key file) differs from the one that created the signing keys; "+
		"start with that master key, or, if it is lost, delete the stored signing keys so that new ones are created (tokens they signed stop verifying): %w",
		kid, masterkey.ErrWrongKey)
}

// openKey decrypts a stored key and checks that the material is what its
// row claims: a private key of the row's algorithm whose thumbprint is its
// kid. The published public key is derived from the private key, never
// taken from the row.
func openKey(row store.SigningKey, sealer *masterkey.Sealer) (*material, error) {
	pt, err := sealer.Open(row.Private, []byte(row.KID))
	if err != nil {
		if errors.Is(err, masterkey.ErrWrongKey) {
			return nil, errWrongMasterKey(row.KID)
		}
		return nil, fmt.Errorf("jwks: open signing key %s: %w", row.KID, err)
	}
	var jwk jose.JSONWebKey
	err = jwk.UnmarshalJSON(pt)
	clear(pt)
	if err != nil {
		return nil, fmt.Errorf("jwks: signing key %s: stored key is not a JWK: %w", row.KID, err)
	}
	if jwk.IsPublic() || !jwk.Valid() {
		return nil, fmt.Errorf("jwks: signing key %s: stored key is not a valid private key", row.KID)
	}
	if jwk.Algorithm != row.Alg || !keyMatchesAlg(jwk.Key, row.Alg) {
		return nil, fmt.Errorf("jwks: signing key %s: stored key (%T, alg %q) does not match algorithm %s", row.KID, jwk.Key, jwk.Algorithm, row.Alg)
	}
	kid, err := thumbprint(&jwk)
	if err != nil {
		return nil, err
	}
	if kid != row.KID || jwk.KeyID != row.KID {
		return nil, fmt.Errorf("jwks: signing key %s: key material has thumbprint %s", row.KID, kid)
	}
	jwk.Use = "sig"
	return newMaterial(jwk)
}

func newMaterial(private jose.JSONWebKey) (*material, error) {
	public := private.Public()
	public.Use = "sig"
	pubJSON, err := public.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("jwks: encode public key %s: %w", private.KeyID, err)
	}
	return &material{
		kid:        private.KeyID,
		alg:        jose.SignatureAlgorithm(private.Algorithm),
		private:    private,
		public:     public,
		publicJSON: pubJSON,
	}, nil
}

// thumbprint is the RFC 7638 JWK thumbprint (SHA-256, base64url): the kid.
func thumbprint(jwk *jose.JSONWebKey) (string, error) {
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("jwks: thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// keyMatchesAlg refuses key material of the wrong family or strength for
// alg, so a tampered row cannot turn an RS256 slot into something weaker.
func keyMatchesAlg(key any, alg string) bool {
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		return alg == ES256 && k.Curve == elliptic.P256()
	case ed25519.PrivateKey:
		return alg == EdDSA
	case *rsa.PrivateKey:
		return alg == RS256 && k.N.BitLen() >= rsaBits
	}
	return false
}
