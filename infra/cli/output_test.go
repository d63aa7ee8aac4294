package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/fedgate/fedgate/shared/federation"
)

// A hostile peer writes the text of its error answers, which the CLI shows
// in attempt tables: nothing in it may reach the terminal as a command.
func TestTablesShowPeerTextInert(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain text stays", "connection refused", "connection refused"},
		{"non-ASCII stays", "délai dépassé ✓", "délai dépassé ✓"},
		{"clear screen", "\x1b[2Jall good", `\x1b[2Jall good`},
		{"window title (OSC)", "\x1b]0;pwned\x07x", `\x1b]0;pwned\x07x`},
		{"carriage return overwrites", "failed\rdelivered", `failed\x0ddelivered`},
		{"backspaces", "500\b\b\b200", `500\x08\x08\x08200`},
		{"newline splits a row", "a\nFAKE ROW", `a\x0aFAKE ROW`},
		{"C1 CSI", "\u009b2J", `\x9b2J`},
		{"bidi override", "evil\u202egnp.exe", `evil\u202egnp.exe`},
		{"bidi isolate", "a\u2066b\u2069", `a\u2066b\u2069`},
		{"tab becomes a space", "a\tb", "a b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := cell(tc.in); got != tc.want {
				t.Errorf("cell(%q) = %q, want %q", tc.in, got, tc.want)
			}
			var out bytes.Buffer
			tb := newTable(&out, "ATTEMPT", "ERROR")
			tb.row(1, federation.Attempt{Error: tc.in}.Error)
			if err := tb.flush(); err != nil {
				t.Fatal(err)
			}
			if strings.ContainsFunc(out.String(), func(r rune) bool { return r != '\n' && acts(r) }) {
				t.Errorf("table printed %q", out.String())
			}
			if lines := strings.Count(out.String(), "\n"); lines != 2 {
				t.Errorf("table printed %d lines, want header and one row: %q", lines, out.String())
			}
		})
	}
}

func TestClipCountsCharacters(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"abcdefghij", 5, "abcd…"},
		{"ééééééé", 4, "ééé…"}, // bytes would cut an é in half
	}
	for _, tc := range tests {
		if got := clip(tc.in, tc.n); got != tc.want {
			t.Errorf("clip(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func TestFieldsAndErrorsAreInert(t *testing.T) {
	var out bytes.Buffer
	if err := fields(&out, "error", "\x1b[31mred", "at", time.Date(2026, 11, 27, 1, 2, 3, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "\x1b") || !strings.Contains(out.String(), `\x1b[31mred`) {
		t.Errorf("fields printed %q", out.String())
	}
	var stderr bytes.Buffer
	a := &app{env: Env{Stderr: &stderr}}
	a.printAPIError(&APIError{Status: 502, Code: "peer_error", Message: "peer said \x1b[2J"})
	if strings.Contains(stderr.String(), "\x1b") {
		t.Errorf("error printed %q", stderr.String())
	}
}

// --json output stays the same JSON to a parser, but a terminal showing it
// gets no character it would act on: Go's encoder leaves C1 controls and
// bidirectional overrides raw.
func TestJSONOutputIsInert(t *testing.T) {
	tests := []struct {
		name, value string
	}{
		{"plain", "connection refused"},
		{"non-ASCII", "délai dépassé ✓"},
		{"C1 CSI", "\u009b2J"},
		{"bidi override", "evil\u202egnp.exe"},
		{"bidi isolate and marks", "a\u2066b\u2069\u200e\u200f\u061c"},
		{"C0 escaped by the encoder", "\x1b[2J\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := printValue(&out, map[string]any{"error": tc.value, "n": 1}); err != nil {
				t.Fatal(err)
			}
			if strings.ContainsFunc(out.String(), func(r rune) bool { return r != '\n' && acts(r) }) {
				t.Errorf("printed %q", out.String())
			}
			var back struct {
				Error string `json:"error"`
				N     int    `json:"n"`
			}
			if err := json.Unmarshal(out.Bytes(), &back); err != nil || back.Error != tc.value || back.N != 1 {
				t.Errorf("printed %q, which parses to %+v (%v)", out.String(), back, err)
			}
		})
	}
	// A peer's payload is passed on as raw bytes, which need not be UTF-8:
	// a lone 0x9b is CSI to an 8-bit terminal.
	var raw bytes.Buffer
	if err := printJSON(&raw, []byte("{\"payload\":{\"x\":\"a\x9b2J\"}}")); err != nil {
		t.Fatal(err)
	}
	var back struct{ Payload struct{ X string } }
	if !utf8.Valid(raw.Bytes()) || json.Unmarshal(raw.Bytes(), &back) != nil || back.Payload.X != "a\ufffd2J" {
		t.Errorf("a payload that is not UTF-8 printed %q", raw.String())
	}
	if got := cell("a\x9b2J"); got != `a\x9b2J` {
		t.Errorf("cell of a byte that is not UTF-8: %q", got)
	}
	var out bytes.Buffer
	if err := printJSON(&out, []byte("not json \x1b[2J\u202e")); err != nil {
		t.Fatal(err)
	}
	if strings.ContainsFunc(out.String(), func(r rune) bool { return r != '\n' && acts(r) }) {
		t.Errorf("non-JSON answer printed %q", out.String())
	}
	var stderr bytes.Buffer
	a := &app{env: Env{Stderr: &stderr}, json: true}
	a.printAPIError(&APIError{Status: 502, Code: "peer_error", Message: "peer said \u009b2J\u202e"})
	if strings.ContainsFunc(stderr.String(), func(r rune) bool { return r != '\n' && acts(r) }) || !json.Valid(bytes.TrimSpace(stderr.Bytes())) {
		t.Errorf("--json error printed %q", stderr.String())
	}
}
