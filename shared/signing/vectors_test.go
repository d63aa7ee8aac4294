package signing

import (
	"encoding/base64"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json from the fixed keys")

// vector is one known answer: a fixed key signs an envelope; the canonical
// signing input and the signature must never change, or peers running an
// older fedgate would reject our messages.
type vector struct {
	Name         string          `json:"name"`
	Alg          Alg             `json:"alg"`
	KeyFile      string          `json:"keyFile"`
	KeyID        string          `json:"keyId"`
	Envelope     json.RawMessage `json:"envelope"`
	SigningInput string          `json:"signingInput"`
	Signature    string          `json:"signature"`
}

// vectorEnvelopes exercise the parts of canonicalization a signature depends
// on: member order, nested payloads, numbers, escapes and non-ASCII text.
var vectorEnvelopes = []struct{ name, envelope string }{
	{"event", `{"type":"EVENT","messageId":"0b9c6f1e-6a53-4c1f-9f0e-3d7a2b1c0d9e","instanceId":"hub-1","connectionId":"c-42","timestamp":1764201600000,"eventType":"task.created","payload":{"title":"Ünïcødé ✓ <&>","n":[1.5,1e21,-0,0.000001],"nested":{"z":true,"a":null}}}`},
	{"command", `{"type":"COMMAND","messageId":"m-1","instanceId":"hub-1","connectionId":"c-42","timestamp":1764201600001,"commandType":"agent.spawn","payload":{"taskId":"t1","agentType":"worker","context":{"repository":"r","branch":"main","workItems":["a","b"]}}}`},
}

func loadKey(t *testing.T, alg Alg, file string) *PrivateKey {
	t.Helper()
	path := filepath.Join("testdata", file)
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) && *update {
		k, err := GenerateKey(alg)
		if err != nil {
			t.Fatal(err)
		}
		der, _ := k.MarshalPKCS8()
		data = pemBlock("PRIVATE KEY", der)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	} else if err != nil {
		t.Fatal(err)
	}
	k, err := ParsePrivateKeyPEM(alg, data)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSignatureVectors(t *testing.T) {
	keys := map[Alg]string{RS256: "rsa-2048.pem", EdDSA: "ed25519.pem"}
	path := filepath.Join("testdata", "vectors.json")
	if *update {
		var out []vector
		for _, alg := range []Alg{RS256, EdDSA} {
			key := loadKey(t, alg, keys[alg])
			for _, e := range vectorEnvelopes {
				signed, err := Sign(key, []byte(e.envelope))
				if err != nil {
					t.Fatal(err)
				}
				input, _ := SigningInput(signed)
				var m map[string]any
				_ = json.Unmarshal(signed, &m)
				out = append(out, vector{
					Name: e.name + "/" + string(alg), Alg: alg, KeyFile: keys[alg], KeyID: key.ID(),
					Envelope: json.RawMessage(e.envelope), SigningInput: string(input), Signature: m["signature"].(string),
				})
			}
		}
		data, _ := json.MarshalIndent(out, "", "  ")
		if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var vectors []vector
	if err := json.Unmarshal(data, &vectors); err != nil {
		t.Fatal(err)
	}
	if len(vectors) != 2*len(vectorEnvelopes) {
		t.Fatalf("%d vectors, want %d", len(vectors), 2*len(vectorEnvelopes))
	}
	for _, v := range vectors {
		t.Run(v.Name, func(t *testing.T) {
			key := loadKey(t, v.Alg, v.KeyFile)
			if key.ID() != v.KeyID {
				t.Fatalf("key id %s, want %s", key.ID(), v.KeyID)
			}
			signed, err := Sign(key, v.Envelope)
			if err != nil {
				t.Fatal(err)
			}
			input, err := SigningInput(signed)
			if err != nil {
				t.Fatal(err)
			}
			if string(input) != v.SigningInput {
				t.Errorf("signing input changed:\n got %s\nwant %s", input, v.SigningInput)
			}
			var m map[string]any
			_ = json.Unmarshal(signed, &m)
			if m["signature"] != v.Signature {
				t.Errorf("signature changed:\n got %v\nwant %s", m["signature"], v.Signature)
			}
			// The published signature verifies with the public key alone.
			sig, _ := base64.StdEncoding.DecodeString(v.Signature)
			if err := key.Public().Verify([]byte(v.SigningInput), sig); err != nil {
				t.Errorf("vector signature does not verify: %v", err)
			}
		})
	}
}
