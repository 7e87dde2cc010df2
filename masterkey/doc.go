// Package masterkey owns AUTHZ_MASTER_KEY: parsing it, creating one for the
// embedded default, deriving per-purpose subkeys from it (HKDF-SHA-256), and
// sealing data at rest with AES-256-GCM under those subkeys.
//
// Nothing else in authz handles the raw master key.
package masterkey
