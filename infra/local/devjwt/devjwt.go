package devjwt

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
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
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, fmt.Errorf("dev jwt key: %w", err)
		}
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
	// Scopes are OAuth 2.0 scopes such as "fedgate:admin", minted as the
	// space-separated "scope" claim (omitted when empty).
	Scopes []string
	// Extra claims are minted as they are (tests mint look-alikes with them).
	Extra map[string]any
	TTL   time.Duration // default 12 h
}

// Mint returns a signed RS256 JWT for t.
func (a *Authority) Mint(t Token) (string, error) {
	now := a.now()
	if t.TTL == 0 {
		t.TTL = 12 * time.Hour
	}
	claims := jwt.MapClaims{}
	for k, v := range t.Extra {
		claims[k] = v
	}
	for k, v := range map[string]any{
		"iss": Issuer, "aud": Audience, "sub": t.Subject, "workspace_id": t.Workspace,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(t.TTL).Unix(),
	} {
		claims[k] = v
	}
	for _, s := range t.Scopes {
		// A scope is one token of the space-separated list (RFC 6749 §3.3).
		if s == "" || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == '"' || r == '\\' || r == 0x7f }) {
			return "", fmt.Errorf("mint token: invalid scope %q", s)
		}
	}
	if len(t.Scopes) > 0 {
		claims["scope"] = strings.Join(t.Scopes, " ")
	}
	return a.sign(claims)
}

func (a *Authority) sign(claims jwt.MapClaims) (string, error) {
	s, err := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(a.key)
	if err != nil {
		return "", fmt.Errorf("mint token: %w", err)
	}
	return s, nil
}

// ErrInvalid is wrapped by every validation failure (together with the
// jwt package's own error, e.g. jwt.ErrTokenExpired).
var ErrInvalid = errors.New("invalid token")

// clockSkew is the leeway on exp and nbf, as identity providers allow.
const clockSkew = time.Minute

// Validate checks an "Authorization" header value the way API Gateway's JWT
// authorizer does (RS256 signature by the authority's key, issuer, audience,
// exp required, exp and nbf with a minute's leeway) and returns the claims as
// the authorizer passes them to a function: strings as they are, numbers as
// text, arrays as "[a b]", objects as JSON.
func (a *Authority) Validate(authorization string) (map[string]string, error) {
	raw, ok := strings.CutPrefix(authorization, "Bearer ")
	if !ok || raw == "" {
		return nil, fmt.Errorf("%w: no bearer token", ErrInvalid)
	}
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodRS256.Alg()}),
		jwt.WithIssuer(Issuer),
		jwt.WithAudience(Audience),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(clockSkew),
		jwt.WithTimeFunc(a.now),
		jwt.WithJSONNumber(), // numbers reach the handler as written
	)
	claims := jwt.MapClaims{}
	_, err := parser.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		// WithValidMethods already refuses every other alg; never hand the
		// public key to anything but RSA verification.
		if _, ok := t.Method.(*jwt.SigningMethodRSA); !ok {
			return nil, fmt.Errorf("unexpected signing method %v", t.Header["alg"])
		}
		return &a.key.PublicKey, nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return flatten(claims), nil
}

func flatten(claims jwt.MapClaims) map[string]string {
	out := make(map[string]string, len(claims))
	for k, v := range claims {
		out[k] = text(v)
	}
	return out
}

// text renders one claim value as API Gateway does.
func text(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case []any:
		items := make([]string, len(x))
		for i, item := range x {
			items[i] = text(item)
		}
		return "[" + strings.Join(items, " ") + "]"
	default: // bool, null, object
		b, _ := json.Marshal(x)
		return string(b)
	}
}
