package devjwt

import (
	"crypto/rand"
	"crypto/rsa"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMintValidate(t *testing.T) {
	dir := t.TempDir()
	a, err := LoadOrCreate(filepath.Join(dir, "k.pem"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadOrCreate(filepath.Join(dir, "k.pem"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := a.Mint(Token{Subject: "u1", Workspace: "ws-1", Roles: []string{"admin", "member"}})
	if err != nil {
		t.Fatal(err)
	}
	// A token minted before a restart still validates after it.
	claims, err := again.Validate("Bearer " + tok)
	if err != nil {
		t.Fatal(err)
	}
	if claims["sub"] != "u1" || claims["workspace_id"] != "ws-1" || claims["roles"] != "[admin member]" || claims["aud"] != Audience {
		t.Fatalf("claims %v", claims)
	}

	otherKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	other := New(otherKey)
	foreign, _ := other.Mint(Token{Subject: "u1", Workspace: "ws-1"})
	expired, _ := a.Mint(Token{Subject: "u1", Workspace: "ws-1", TTL: -2 * time.Minute})
	future := New(a.key)
	future.now = func() time.Time { return time.Now().Add(time.Hour) }
	early, _ := future.Mint(Token{Subject: "u1", Workspace: "ws-1"})
	wrongAud, _ := a.sign(map[string]any{"iss": Issuer, "aud": "other", "sub": "u", "exp": time.Now().Add(time.Hour).Unix()})
	wrongIss, _ := a.sign(map[string]any{"iss": "evil", "aud": Audience, "sub": "u", "exp": time.Now().Add(time.Hour).Unix()})
	noExp, _ := a.sign(map[string]any{"iss": Issuer, "aud": Audience, "sub": "u"})
	parts := strings.Split(tok, ".")
	tampered := parts[0] + "." + strings.TrimRight(parts[1], "A") + "B." + parts[2]

	for name, header := range map[string]string{
		"missing":          "",
		"not bearer":       "Basic abc",
		"not a JWT":        "Bearer abc",
		"other issuer key": "Bearer " + foreign,
		"expired":          "Bearer " + expired,
		"not yet valid":    "Bearer " + early,
		"wrong audience":   "Bearer " + wrongAud,
		"wrong issuer":     "Bearer " + wrongIss,
		"no expiry":        "Bearer " + noExp,
		"tampered claims":  "Bearer " + tampered,
	} {
		if _, err := a.Validate(header); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
