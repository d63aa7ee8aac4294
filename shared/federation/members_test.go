package federation

import (
	"strings"
	"testing"
)

func TestValidID(t *testing.T) {
	for id, ok := range map[string]bool{
		"0b9c-uuid":                    true,
		"urn:peer:1.2_3":               true,
		strings.Repeat("a", 100):       true,
		strings.Repeat("a", 101):       false,
		"":                             false,
		"has space":                    false,
		"slash/inside":                 false,
		"ünicode":                      false,
		"new\nline":                    false,
		"0197a5c2-7f1e-7c3a-9b1e-1234": true,
	} {
		if ValidID(id) != ok {
			t.Errorf("ValidID(%q) = %v, want %v", id, !ok, ok)
		}
	}
}

// Two parsers must never read two different envelopes out of the same
// bytes: a name twice in one object, or a case variant of a defined member,
// is refused.
func TestCheckMembers(t *testing.T) {
	for _, tt := range []struct {
		raw   string
		names string // "" when accepted
	}{
		{`{"connectionId":"c","eventType":"t.x","payload":{"a":1,"A":2}}`, ""}, // payload keys are the sender's own
		{`{"connectionId":"c","ConnectionId":"d"}`, `"ConnectionId"`},
		{`{"ConnectionId":"d"}`, `"ConnectionId"`},
		{`{"connectionId":"c","connectionId":"d"}`, `"connectionId" appears twice`},
		{`{"payload":{"a":1,"a":2}}`, `"a" appears twice`},
		{`{"payload":[{"x":1},{"x":2}]}`, ""},
		{`{"payload":[{"x":1,"x":2}]}`, `"x" appears twice`},
		{`{"EVENTTYPE":"t.x"}`, `"EVENTTYPE"`},
		{`{"unknownMember":1}`, ""},
	} {
		err := CheckMembers([]byte(tt.raw), Envelope{}, EventBody{})
		switch {
		case tt.names == "" && err != nil:
			t.Errorf("%s: %v", tt.raw, err)
		case tt.names != "" && (!HasCode(err, CodeValidation) || !strings.Contains(err.Error(), tt.names)):
			t.Errorf("%s: %v, want validation_failed naming %s", tt.raw, err, tt.names)
		}
	}
}

// toUrl is compared as a WHATWG origin: the same origin however it is
// written, and nothing that is more or other than an origin.
func TestOrigin(t *testing.T) {
	for in, want := range map[string]string{
		"https://fed.example.org":      "https://fed.example.org",
		"HTTPS://Fed.Example.ORG":      "https://fed.example.org",
		"https://fed.example.org:443":  "https://fed.example.org",
		"https://fed.example.org:8443": "https://fed.example.org:8443",
		"http://127.0.0.1:8082":        "http://127.0.0.1:8082",
		"http://127.0.0.1:80":          "http://127.0.0.1",
		"https://bücher.example":       "https://xn--bcher-kva.example",
		"https://[::1]:8443":           "https://[::1]:8443",
		"https://fed.example.org/":     "",
		"https://fed.example.org/path": "",
		"https://user@fed.example.org": "",
		"https://fed.example.org.":     "",
		"https://fed.example.org?x=1":  "",
		"ftp://fed.example.org":        "",
		"https://":                     "",
		"fed.example.org":              "",
	} {
		got, ok := Origin(in)
		if want == "" && ok || want != "" && got != want {
			t.Errorf("Origin(%q) = %q %v, want %q", in, got, ok, want)
		}
	}
	if !SameOrigin("https://Fed.example.org:443", "https://fed.example.org") || SameOrigin("https://a.example", "https://b.example") {
		t.Error("SameOrigin")
	}
}
