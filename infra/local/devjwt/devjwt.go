// Package devjwt is the local runner's stand-in for the identity provider and
// for API Gateway's JWT authorizer: it mints RS256 tokens with a key kept
// under .local/ and validates them the way the authorizer does (signature,
// issuer, audience, expiry), producing the claims map a function receives.
package devjwt

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Dev token issuer and audience.
const (
	Issuer   = "https://fedgate.local/dev-issuer"
	Audience = "fedgate"
)

// Authority mints and validates dev tokens.
type Authority struct {
	key *rsa.PrivateKey
	now func() time.Time
}

// LoadOrCreate reads the dev signing key at path, creating it on first use so
// tokens keep working across restarts.
func LoadOrCreate(path string) (*Authority, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, fmt.Errorf("dev jwt key: %w", err)
		}
		der, _ := x509.MarshalPKCS8PrivateKey(key)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("dev jwt key: %w", err)
		}
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			return nil, fmt.Errorf("dev jwt key: %w", err)
		}
		return New(key), nil
	}
	if err != nil {
		return nil, fmt.Errorf("dev jwt key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("dev jwt key %s: not PEM", path)
	}
	raw, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("dev jwt key %s: %w", path, err)
	}
	key, ok := raw.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("dev jwt key %s: not an RSA key", path)
	}
	return New(key), nil
}

// New returns an Authority signing with key.
func New(key *rsa.PrivateKey) *Authority { return &Authority{key: key, now: time.Now} }

// Token describes a token to mint.
type Token struct {
	Subject   string
	Workspace string
	Roles     []string
	TTL       time.Duration
}

// Mint returns a signed JWT for t.
func (a *Authority) Mint(t Token) (string, error) {
	now := a.now()
	if t.TTL == 0 {
		t.TTL = 12 * time.Hour
	}
	roles := t.Roles
	if roles == nil {
		roles = []string{}
	}
	claims := map[string]any{
		"iss": Issuer, "aud": Audience, "sub": t.Subject,
		"workspace_id": t.Workspace, "roles": roles,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(t.TTL).Unix(),
	}
	return a.sign(claims)
}

func (a *Authority) sign(claims map[string]any) (string, error) {
	header, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT"})
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("mint token: %w", err)
	}
	enc := base64.RawURLEncoding
	input := enc.EncodeToString(header) + "." + enc.EncodeToString(payload)
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, a.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("mint token: %w", err)
	}
	return input + "." + enc.EncodeToString(sig), nil
}

// ErrInvalid is wrapped by every validation failure.
var ErrInvalid = errors.New("invalid token")

// clockSkew is the leeway on exp and nbf, as identity providers allow.
const clockSkew = time.Minute

// Validate checks an "Authorization" header value and returns the claims as
// API Gateway's JWT authorizer passes them: strings, arrays as "[a b]".
func (a *Authority) Validate(authorization string) (map[string]string, error) {
	token, ok := strings.CutPrefix(authorization, "Bearer ")
	if !ok || token == "" {
		return nil, fmt.Errorf("%w: no bearer token", ErrInvalid)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%w: not a JWT", ErrInvalid)
	}
	enc := base64.RawURLEncoding
	var header struct{ Alg string }
	if err := decodePart(parts[0], &header); err != nil || header.Alg != "RS256" {
		return nil, fmt.Errorf("%w: unsupported header", ErrInvalid)
	}
	sig, err := enc.DecodeString(parts[2])
	if err != nil {
		return nil, fmt.Errorf("%w: bad signature encoding", ErrInvalid)
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(&a.key.PublicKey, crypto.SHA256, sum[:], sig) != nil {
		return nil, fmt.Errorf("%w: signature does not verify", ErrInvalid)
	}
	var claims map[string]any
	if err := decodePart(parts[1], &claims); err != nil {
		return nil, fmt.Errorf("%w: bad claims", ErrInvalid)
	}
	now := a.now()
	if claims["iss"] != Issuer {
		return nil, fmt.Errorf("%w: wrong issuer", ErrInvalid)
	}
	if !hasAudience(claims["aud"]) {
		return nil, fmt.Errorf("%w: wrong audience", ErrInvalid)
	}
	exp, ok := claims["exp"].(float64)
	if !ok || now.After(time.Unix(int64(exp), 0).Add(clockSkew)) {
		return nil, fmt.Errorf("%w: expired", ErrInvalid)
	}
	if nbf, ok := claims["nbf"].(float64); ok && now.Add(clockSkew).Before(time.Unix(int64(nbf), 0)) {
		return nil, fmt.Errorf("%w: not yet valid", ErrInvalid)
	}
	return flatten(claims), nil
}

func decodePart(part string, v any) error {
	data, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

func hasAudience(aud any) bool {
	switch v := aud.(type) {
	case string:
		return v == Audience
	case []any:
		for _, a := range v {
			if a == Audience {
				return true
			}
		}
	}
	return false
}

func flatten(claims map[string]any) map[string]string {
	out := make(map[string]string, len(claims))
	for k, v := range claims {
		switch x := v.(type) {
		case string:
			out[k] = x
		case float64:
			out[k] = strconv.FormatFloat(x, 'f', -1, 64)
		case []any:
			items := make([]string, len(x))
			for i, item := range x {
				items[i] = fmt.Sprint(item)
			}
			out[k] = "[" + strings.Join(items, " ") + "]"
		default:
			b, _ := json.Marshal(x)
			out[k] = string(b)
		}
	}
	return out
}
