package devjwt

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestLoadOrCreateKeepsKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "k.pem")
	a, err := LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := a.Mint(Token{Subject: "u1", Workspace: "ws-1"})
	if err != nil {
		t.Fatal(err)
	}
	// A token minted before a restart still validates after it.
	if _, err := again.Validate("Bearer " + tok); err != nil {
		t.Fatal(err)
	}
}

func TestValidate(t *testing.T) {
	key := newKey(t)
	a := New(key)
	now := time.Now()
	valid := func() jwt.MapClaims {
		return jwt.MapClaims{
			"iss": Issuer, "aud": Audience, "sub": "u1", "workspace_id": "ws-1",
			"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		}
	}
	with := func(k string, v any) jwt.MapClaims {
		c := valid()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	signed := func(m jwt.SigningMethod, key any, c jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(m, c).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	mint := func(a *Authority, tok Token) string {
		s, err := a.Mint(tok)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	future := New(key)
	future.now = func() time.Time { return now.Add(time.Hour) }
	good := mint(a, Token{Subject: "u1", Workspace: "ws-1"})
	parts := strings.Split(good, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	tampered := base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), `"ws-1"`, `"ws-2"`, 1)))
	if tampered == parts[1] {
		t.Fatal("payload not tampered")
	}

	tests := []struct {
		name   string
		header string
		want   map[string]string // nil: must be refused
	}{
		{"valid token", "Bearer " + good,
			map[string]string{"iss": Issuer, "aud": Audience, "sub": "u1", "workspace_id": "ws-1"}},
		{"scopes and extra claims", "Bearer " + mint(a, Token{Subject: "u2", Workspace: "ws-2",
			Scopes: []string{"fedgate:admin", "fedgate:instance"}, Extra: map[string]any{"roles": []string{"admin", "member"}}}),
			map[string]string{"sub": "u2", "workspace_id": "ws-2", "scope": "fedgate:admin fedgate:instance", "roles": "[admin member]"}},
		{"no scopes: no scope claim", "Bearer " + good, map[string]string{"scope": ""}},
		{"claims as API Gateway passes them", "Bearer " + signed(jwt.SigningMethodRS256, key,
			with("scp", []string{"fedgate:admin", "read"})),
			map[string]string{"scp": "[fedgate:admin read]", "exp": strconv.FormatInt(now.Add(time.Hour).Unix(), 10)}},
		{"audience among several", "Bearer " + signed(jwt.SigningMethodRS256, key, with("aud", []string{"other", Audience})),
			map[string]string{"aud": "[other " + Audience + "]"}},
		{"expired within leeway", "Bearer " + signed(jwt.SigningMethodRS256, key, with("exp", now.Add(-30*time.Second).Unix())),
			map[string]string{"sub": "u1"}},

		{"missing header", "", nil},
		{"not bearer", "Basic abc", nil},
		{"not a JWT", "Bearer abc", nil},
		{"wrong key", "Bearer " + mint(New(newKey(t)), Token{Subject: "u1", Workspace: "ws-1"}), nil},
		{"wrong issuer", "Bearer " + signed(jwt.SigningMethodRS256, key, with("iss", "https://evil.example")), nil},
		{"no issuer", "Bearer " + signed(jwt.SigningMethodRS256, key, with("iss", nil)), nil},
		{"wrong audience", "Bearer " + signed(jwt.SigningMethodRS256, key, with("aud", "other")), nil},
		{"no audience", "Bearer " + signed(jwt.SigningMethodRS256, key, with("aud", nil)), nil},
		{"expired", "Bearer " + mint(a, Token{Subject: "u1", Workspace: "ws-1", TTL: -2 * time.Minute}), nil},
		{"no expiry", "Bearer " + signed(jwt.SigningMethodRS256, key, with("exp", nil)), nil},
		{"not yet valid", "Bearer " + mint(future, Token{Subject: "u1", Workspace: "ws-1"}), nil},
		{"alg none", "Bearer " + signed(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid()), nil},
		{"HS256 with the public key PEM as secret", "Bearer " + signed(jwt.SigningMethodHS256, pubPEM, valid()), nil},
		{"HS256 with the public key DER as secret", "Bearer " + signed(jwt.SigningMethodHS256, pubDER, valid()), nil},
		{"RS512 by the right key", "Bearer " + signed(jwt.SigningMethodRS512, key, valid()), nil},
		{"PS256 by the right key", "Bearer " + signed(jwt.SigningMethodPS256, key, valid()), nil},
		{"tampered claims", "Bearer " + parts[0] + "." + tampered + "." + parts[2], nil},
		{"signature stripped", "Bearer " + parts[0] + "." + parts[1] + ".", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			claims, err := a.Validate(tc.header)
			if tc.want == nil {
				if err == nil {
					t.Fatalf("accepted: %v", claims)
				}
				t.Logf("refused: %v", err)
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("error %v does not wrap ErrInvalid", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.want {
				if claims[k] != v {
					t.Errorf("claim %s = %q, want %q (all: %v)", k, claims[k], v, claims)
				}
			}
		})
	}
}

func TestMintRefusesBadScope(t *testing.T) {
	a := New(newKey(t))
	for _, s := range []string{"", "a b", "tab\tx", `quote"`} {
		if _, err := a.Mint(Token{Subject: "u", Workspace: "w", Scopes: []string{s}}); err == nil {
			t.Errorf("scope %q minted", s)
		}
	}
}

func newKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
