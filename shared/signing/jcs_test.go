package signing

import (
	"testing"
)

// RFC 8785 known answers: §3.2.2 (the sample object), §3.2.3 (property
// sorting by UTF-16 code units) and Appendix B (ES6 number serialization).
func TestCanonicalizeRFC8785(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{
			name: "sample object §3.2.2",
			in: `{
  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}`,
			want: `{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`,
		},
		{
			name: "sorting by UTF-16 code units §3.2.3",
			in: `{
  "\u20ac": "Euro Sign",
  "\r": "Carriage Return",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "1": "One",
  "\ud83d\ude00": "Emoji: Grinning Face",
  "\u0080": "Control",
  "\u00f6": "Latin Small Letter O With Diaeresis"
}`,
			want: "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u0080\":\"Control\",\"\u00f6\":\"Latin Small Letter O With Diaeresis\",\"\u20ac\":\"Euro Sign\",\"\U0001F600\":\"Emoji: Grinning Face\",\"\ufb33\":\"Hebrew Letter Dalet With Dagesh\"}",
		},
		{name: "1e21 switches to exponent form", in: `[1e21]`, want: `[1e+21]`},
		{name: "largest integer below 1e21", in: `[999999999999999900000]`, want: `[999999999999999900000]`},
		{name: "negative zero is zero", in: `[-0]`, want: `[0]`},
		{name: "0.000001 stays decimal", in: `[0.000001]`, want: `[0.000001]`},
		{name: "below 1e-6 uses exponent", in: `[0.0000009999999999999997]`, want: `[9.999999999999997e-7]`},
		{name: "smallest subnormal", in: `[5e-324]`, want: `[5e-324]`},
		{name: "largest double", in: `[1.7976931348623157e308]`, want: `[1.7976931348623157e+308]`},
		{name: "2^53", in: `[9007199254740992]`, want: `[9007199254740992]`},
		{name: "millisecond timestamp", in: `{"timestamp":1764201600000}`, want: `{"timestamp":1764201600000}`},
		{name: "nested objects sorted, whitespace removed", in: "{ \"b\" : { \"z\":1, \"a\":[ 1 , 2 ] }, \"a\" : \"x\" }", want: `{"a":"x","b":{"a":[1,2],"z":1}}`},
		{name: "control characters escaped in short form", in: `["\u0008\u0009\u000a\u000c\u000d\u001f"]`, want: `["\b\t\n\f\r\u001f"]`},
		{name: "non-ASCII kept as UTF-8", in: `["\u00e9\u4e2d"]`, want: `["é中"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Canonicalize([]byte(tt.in))
			if err != nil {
				t.Fatalf("Canonicalize: %v", err)
			}
			if string(got) != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestCanonicalizeRejects(t *testing.T) {
	for name, in := range map[string]string{
		"duplicate key":   `{"a":1,"a":2}`,
		"invalid UTF-8":   "{\"a\":\"\xff\"}",
		"trailing comma":  `{"a":1,}`,
		"not JSON":        `hello`,
		"lone surrogate":  `["\ud800"]`,
		"NaN is not JSON": `[NaN]`,
	} {
		t.Run(name, func(t *testing.T) {
			if out, err := Canonicalize([]byte(in)); err == nil {
				t.Fatalf("accepted %q as %q", in, out)
			}
		})
	}
}

func TestSigningInputDropsOnlySignature(t *testing.T) {
	in := `{"type":"EVENT","signature":"abc","keyId":"k1","payload":{"signature":"kept"}}`
	got, err := SigningInput([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"keyId":"k1","payload":{"signature":"kept"},"type":"EVENT"}`
	if string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
	for _, bad := range []string{`[1]`, `null`, `"x"`} {
		if _, err := SigningInput([]byte(bad)); err == nil {
			t.Errorf("SigningInput(%s) accepted a non-object", bad)
		}
	}
}
