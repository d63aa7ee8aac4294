package signing

import (
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
)

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func TestSignVerify(t *testing.T) {
	for _, alg := range []Alg{RS256, EdDSA} {
		t.Run(string(alg), func(t *testing.T) {
			key, err := GenerateKey(alg)
			if err != nil {
				t.Fatal(err)
			}
			other, _ := GenerateKey(alg)
			env := []byte(`{"type":"QUERY","messageId":"m1","connectionId":"c1","timestamp":1,"query":"x"}`)
			signed, err := Sign(key, env)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			_ = json.Unmarshal(signed, &m)
			if m["keyId"] != key.ID() {
				t.Errorf("keyId = %v, want %s", m["keyId"], key.ID())
			}
			if err := Verify(key.Public(), signed); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			// Re-serialized (member order, whitespace) it still verifies: the
			// signature covers the canonical form, not the bytes.
			reordered, _ := json.MarshalIndent(m, "", "   ")
			if err := Verify(key.Public(), reordered); err != nil {
				t.Errorf("re-serialized envelope: %v", err)
			}
			pub, err := ParsePublicKeyPEM(alg, key.Public().PEM())
			if err != nil || pub.ID() != key.ID() {
				t.Fatalf("PEM round trip: id %s err %v", pub.ID(), err)
			}

			tamper := func(f func(m map[string]any)) []byte {
				c := map[string]any{}
				_ = json.Unmarshal(signed, &c)
				f(c)
				b, _ := json.Marshal(c)
				return b
			}
			cases := map[string]struct {
				key  PublicKey
				env  []byte
				want error
			}{
				"changed type (replay to another endpoint)": {key.Public(), tamper(func(m map[string]any) { m["type"] = "COMMAND" }), ErrInvalidSignature},
				"changed connection":                        {key.Public(), tamper(func(m map[string]any) { m["connectionId"] = "c2" }), ErrInvalidSignature},
				"added member":                              {key.Public(), tamper(func(m map[string]any) { m["extra"] = 1 }), ErrInvalidSignature},
				"other key":                                 {other.Public(), signed, ErrInvalidSignature},
				"signature not base64":                      {key.Public(), tamper(func(m map[string]any) { m["signature"] = "!!" }), ErrInvalidSignature},
				"no signature":                              {key.Public(), tamper(func(m map[string]any) { delete(m, "signature") }), ErrNoSignature},
				"signature not a string":                    {key.Public(), tamper(func(m map[string]any) { m["signature"] = 5 }), ErrNoSignature},
			}
			for name, c := range cases {
				if err := Verify(c.key, c.env); !errors.Is(err, c.want) {
					t.Errorf("%s: Verify = %v, want %v", name, err, c.want)
				}
			}
		})
	}
}

func TestKeyTypeChecks(t *testing.T) {
	rsaKey, _ := GenerateKey(RS256)
	edKey, _ := GenerateKey(EdDSA)
	if _, err := ParsePublicKeyPEM(EdDSA, rsaKey.Public().PEM()); err == nil {
		t.Error("an RSA key parsed as EdDSA")
	}
	if _, err := ParsePublicKeyPEM(RS256, edKey.Public().PEM()); err == nil {
		t.Error("an Ed25519 key parsed as RS256")
	}
	if _, err := ParsePublicKeyPEM(RS256, "not pem"); err == nil {
		t.Error("garbage parsed as a key")
	}
	if _, err := ParseAlg("HS256"); err == nil {
		t.Error("HS256 accepted")
	}
	if _, err := GenerateKey("none"); err == nil {
		t.Error("generated a key for an unknown algorithm")
	}
	der, _ := edKey.MarshalPKCS8()
	if _, err := ParsePKCS8(RS256, der); err == nil || !strings.Contains(err.Error(), "Ed25519") {
		t.Errorf("Ed25519 private key parsed as RS256: %v", err)
	}
}
