package federation

import (
	"encoding/json"
	"strings"
	"unicode"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// deniedWords are refused anywhere in a query's text or context after
// normalization (PROTOCOL.md §6): credentials never cross the federation.
var deniedWords = []string{"credential", "apikey", "secret", "token", "password", "passwd", "oauth", "privatekey", "sessionid"}

var folder = cases.Fold()

// Normalize is the form deny-list words are looked for in: Unicode NFKC
// (full-width and compatibility forms become plain letters), case folding,
// and nothing but letters and digits, so "API_KEY", "api-key", "ｔｏｋｅｎ" and
// "pass\u200bword" all show their word.
func Normalize(s string) string {
	s = folder.String(norm.NFKC.String(s))
	return strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return r
		}
		return -1
	}, s)
}

func denied(s string) bool {
	n := Normalize(s)
	for _, w := range deniedWords {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// QueryAllowed reports whether a query may be sent or answered: neither its
// text nor any string (key or value) in its context names a credential.
func QueryAllowed(query string, context json.RawMessage) bool {
	if denied(query) {
		return false
	}
	return len(context) == 0 || !anyString(context, denied)
}

// anyString reports whether fn holds for any string in a JSON text.
func anyString(raw json.RawMessage, fn func(string) bool) bool {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return fn(string(raw)) // not JSON: judge the text itself
	}
	var walk func(any) bool
	walk = func(v any) bool {
		switch x := v.(type) {
		case string:
			return fn(x)
		case []any:
			for _, e := range x {
				if walk(e) {
					return true
				}
			}
		case map[string]any:
			for k, e := range x {
				if fn(k) || walk(e) {
					return true
				}
			}
		}
		return false
	}
	return walk(v)
}

// CommandAllowed reports whether an incoming command type is accepted: never
// credential commands (judged on the normalized type, so no spelling slips
// through), and otherwise only those in the allow-list.
func CommandAllowed(commandType string, allowList []string) bool {
	if strings.HasPrefix(Normalize(commandType), "credential") {
		return false
	}
	for _, t := range allowList {
		if t == commandType {
			return true
		}
	}
	return false
}
