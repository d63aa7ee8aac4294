// Package signing implements the signature scheme of PROTOCOL.md §3–4: RFC 8785
// canonical JSON as the signing input, RS256 and EdDSA keys, key ids derived
// from the public key, and envelope encryption of private keys with KMS.
package signing
