package signing

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

// FuzzCanonicalize: canonicalization never panics, is idempotent, and keeps
// the JSON value (compared through encoding/json).
func FuzzCanonicalize(f *testing.F) {
	for _, s := range []string{`{"b":1,"a":[true,null,"x"]}`, `[1e21,-0,0.000001]`, `"\u20ac"`, `{"a":{"b":{"c":[]}}}`, `{}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := Canonicalize(in)
		if err != nil {
			return
		}
		again, err := Canonicalize(out)
		if err != nil {
			t.Fatalf("canonical output %q does not canonicalize: %v", out, err)
		}
		if !bytes.Equal(out, again) {
			t.Fatalf("not idempotent: %q -> %q", out, again)
		}
		var a, b any
		if json.Unmarshal(in, &a) == nil {
			if err := json.Unmarshal(out, &b); err != nil {
				t.Fatalf("canonical output is not JSON: %q", out)
			}
		}
	})
}

// fuzzKey is fixed so the fuzzer explores envelopes, not key generation.
var fuzzKey = func() *PrivateKey {
	k, err := GenerateKey(EdDSA)
	if err != nil {
		panic(err)
	}
	return k
}()

// FuzzVerify: parsing and verifying arbitrary bytes never panics and never
// accepts an envelope that the key did not sign; anything the key did sign
// verifies, however it is re-serialized.
func FuzzVerify(f *testing.F) {
	for _, s := range []string{
		`{"type":"EVENT","messageId":"m","connectionId":"c","timestamp":1,"signature":"AAAA"}`,
		`{"signature":5}`, `[]`, `{"a":"\ud800"}`, `{"signature":"` + string(bytes.Repeat([]byte("A"), 88)) + `"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		err := Verify(fuzzKey.Public(), in)
		if err == nil {
			t.Fatalf("unsigned input %q verified", in)
		}
		signed, err := Sign(fuzzKey, in)
		if err != nil {
			return // not a JSON object
		}
		if err := Verify(fuzzKey.Public(), signed); err != nil {
			t.Fatalf("own signature over %q does not verify: %v", in, err)
		}
		if err := Verify(fuzzKey.Public(), append(bytes.TrimSuffix(signed, []byte("}")), []byte(`,"zz":1}`)...)); !errors.Is(err, ErrInvalidSignature) {
			t.Fatalf("extended envelope: %v, want ErrInvalidSignature", err)
		}
	})
}
