package signing

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
)

// Alg names a signature algorithm as published in GET /instance.
type Alg string

const (
	// RS256 is RSASSA-PKCS1-v1_5 with SHA-256: the original federation's choice and the default.
	RS256 Alg = "RS256"
	// EdDSA is Ed25519: much cheaper to sign, chosen per instance by configuration.
	EdDSA Alg = "EdDSA"
)

// rsaBits is the size of generated RSA keys; PROTOCOL §3 requires at least 2048.
const rsaBits = 2048

// ErrInvalidSignature is returned when a signature does not verify.
var ErrInvalidSignature = errors.New("signature does not verify")

// ParseAlg validates an algorithm name.
func ParseAlg(s string) (Alg, error) {
	switch Alg(s) {
	case RS256, EdDSA:
		return Alg(s), nil
	}
	return "", fmt.Errorf("unknown signing algorithm %q (want RS256 or EdDSA)", s)
}

// PrivateKey is a signing key with its id and algorithm.
type PrivateKey struct {
	id     string
	alg    Alg
	signer crypto.Signer
}

// PublicKey is a verification key with its id and algorithm.
type PublicKey struct {
	id  string
	alg Alg
	key crypto.PublicKey
}

// GenerateKey creates a new key pair for alg.
func GenerateKey(alg Alg) (*PrivateKey, error) {
	var signer crypto.Signer
	switch alg {
	case RS256:
		k, err := rsa.GenerateKey(rand.Reader, rsaBits)
		if err != nil {
			return nil, fmt.Errorf("generate RSA key: %w", err)
		}
		signer = k
	case EdDSA:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generate Ed25519 key: %w", err)
		}
		signer = k
	default:
		return nil, fmt.Errorf("generate key: unknown algorithm %q", alg)
	}
	return newPrivateKey(alg, signer)
}

func newPrivateKey(alg Alg, signer crypto.Signer) (*PrivateKey, error) {
	if err := checkKeyType(alg, signer.Public()); err != nil {
		return nil, err
	}
	id, err := KeyID(signer.Public())
	if err != nil {
		return nil, err
	}
	return &PrivateKey{id: id, alg: alg, signer: signer}, nil
}

// maxRSABits bounds the RSA keys fedgate verifies with.
const maxRSABits = 4096

func checkKeyType(alg Alg, pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if alg != RS256 {
			return fmt.Errorf("an RSA key cannot be used with %s", alg)
		}
		// PROTOCOL.md §3: 2048 to 4096 bits, exponent 65537. A larger key
		// would buy a stranger our CPU on every verification.
		if n := k.N.BitLen(); n < rsaBits || n > maxRSABits {
			return fmt.Errorf("RSA key has %d bits, %d to %d allowed", n, rsaBits, maxRSABits)
		}
		if k.E != 65537 {
			return fmt.Errorf("RSA key has public exponent %d, 65537 required", k.E)
		}
	case ed25519.PublicKey:
		if alg != EdDSA {
			return fmt.Errorf("an Ed25519 key cannot be used with %s", alg)
		}
	default:
		return fmt.Errorf("unsupported key type %T", pub)
	}
	return nil
}

// KeyID derives a short id from a public key: the first 16 characters of the
// base64url SHA-256 of its SPKI encoding. Deterministic, so the same key always
// has the same id, and unguessable like a random string.
func KeyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("encode public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:])[:16], nil
}

// ID returns the key id.
func (k *PrivateKey) ID() string { return k.id }

// Alg returns the key's algorithm.
func (k *PrivateKey) Alg() Alg { return k.alg }

// Public returns the matching public key.
func (k *PrivateKey) Public() PublicKey {
	return PublicKey{id: k.id, alg: k.alg, key: k.signer.Public()}
}

// Sign signs msg with the key's algorithm.
func (k *PrivateKey) Sign(msg []byte) ([]byte, error) {
	switch k.alg {
	case RS256:
		sum := sha256.Sum256(msg)
		sig, err := k.signer.Sign(rand.Reader, sum[:], crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("sign RS256: %w", err)
		}
		return sig, nil
	case EdDSA:
		sig, err := k.signer.Sign(rand.Reader, msg, crypto.Hash(0))
		if err != nil {
			return nil, fmt.Errorf("sign EdDSA: %w", err)
		}
		return sig, nil
	}
	return nil, fmt.Errorf("sign: unknown algorithm %q", k.alg)
}

// MarshalPKCS8 encodes the private key as PKCS #8 DER. Only the KMS sealing
// code and the local runner's state export call it; the bytes must never be
// logged or returned by an API.
func (k *PrivateKey) MarshalPKCS8() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.signer)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	return der, nil
}

// ParsePKCS8 decodes a PKCS #8 DER private key for alg.
func ParsePKCS8(alg Alg, der []byte) (*PrivateKey, error) {
	raw, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("parse private key: %w", err)
	}
	signer, ok := raw.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("parse private key: %T cannot sign", raw)
	}
	return newPrivateKey(alg, signer)
}

// ParsePrivateKeyPEM decodes a "PRIVATE KEY" (PKCS #8) PEM block.
func ParsePrivateKeyPEM(alg Alg, data []byte) (*PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("parse private key: no PRIVATE KEY PEM block")
	}
	return ParsePKCS8(alg, block.Bytes)
}

// ParsePublicKeyPEM decodes an SPKI "PUBLIC KEY" PEM block for alg.
func ParsePublicKeyPEM(alg Alg, data string) (PublicKey, error) {
	block, _ := pem.Decode([]byte(data))
	if block == nil || block.Type != "PUBLIC KEY" {
		return PublicKey{}, errors.New("parse public key: no PUBLIC KEY PEM block")
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return PublicKey{}, fmt.Errorf("parse public key: %w", err)
	}
	if err := checkKeyType(alg, pub); err != nil {
		return PublicKey{}, fmt.Errorf("parse public key: %w", err)
	}
	id, err := KeyID(pub)
	if err != nil {
		return PublicKey{}, err
	}
	return PublicKey{id: id, alg: alg, key: pub}, nil
}

// ID returns the key id derived from the key.
func (p PublicKey) ID() string { return p.id }

// Alg returns the key's algorithm.
func (p PublicKey) Alg() Alg { return p.alg }

// PEM encodes the key as an SPKI "PUBLIC KEY" block.
func (p PublicKey) PEM() string {
	der, err := x509.MarshalPKIXPublicKey(p.key)
	if err != nil {
		// Only keys that passed checkKeyType exist, and those always encode.
		panic(fmt.Sprintf("encode public key: %v", err))
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// Verify checks sig over msg. It returns ErrInvalidSignature on mismatch.
func (p PublicKey) Verify(msg, sig []byte) error {
	switch k := p.key.(type) {
	case *rsa.PublicKey:
		sum := sha256.Sum256(msg)
		if rsa.VerifyPKCS1v15(k, crypto.SHA256, sum[:], sig) != nil {
			return ErrInvalidSignature
		}
		return nil
	case ed25519.PublicKey:
		if !ed25519.Verify(k, msg, sig) {
			return ErrInvalidSignature
		}
		return nil
	}
	return fmt.Errorf("verify: no key")
}
