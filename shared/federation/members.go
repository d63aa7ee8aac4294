package federation

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"sync"
)

// ValidID reports whether s is an identifier a peer may choose (messageId,
// connectionId, keyId, instanceId; PROTOCOL.md §1): 1 to 100 characters of
// A–Z a–z 0–9 . _ : -.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > 100 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// CheckMembers refuses an object whose members two parsers could read
// differently (PROTOCOL.md §3, "Members are matched exactly"): a member name
// that appears twice in one object, at any depth, or a top-level name that
// differs from a member the given types define only by case (encoding/json
// would read "ConnectionId" as connectionId; a strict parser would not).
func CheckMembers(raw []byte, types ...any) error {
	defined := definedMembers(types)
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var stack []map[string]bool // the member names seen in each open object
	var inObject []bool         // whether each open container is an object
	expectKey := func() bool { return len(inObject) > 0 && inObject[len(inObject)-1] }
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return nil // not JSON: the decoder that reads it says so
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack, inObject = append(stack, map[string]bool{}), append(inObject, true)
			case '[':
				inObject = append(inObject, false)
			default:
				if inObject[len(inObject)-1] {
					stack = stack[:len(stack)-1]
				}
				inObject = inObject[:len(inObject)-1]
			}
			continue
		case string:
			if !expectKey() {
				continue
			}
			seen := stack[len(stack)-1]
			if seen[t] {
				return Invalidf("member %q appears twice in one object", Shorten(t, 60))
			}
			seen[t] = true
			if len(stack) == 1 {
				if d, ok := defined[strings.ToLower(t)]; ok && d != t {
					return Invalidf("member %q differs from %q only by case", Shorten(t, 60), d)
				}
			}
			// The value that follows is read as a value, not a key.
			if err := skipValue(dec, &stack, &inObject); err != nil {
				return nil
			}
		}
	}
}

// skipValue reads the member value after a key, opening containers on the
// stacks so their own members are checked as the walk goes on.
func skipValue(dec *json.Decoder, stack *[]map[string]bool, inObject *[]bool) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); ok {
		switch d {
		case '{':
			*stack, *inObject = append(*stack, map[string]bool{}), append(*inObject, true)
		case '[':
			*inObject = append(*inObject, false)
		}
	}
	return nil
}

var memberCache sync.Map // reflect.Type → map[lower-case name]name

// definedMembers are the JSON names of the types' fields (embedded structs
// included), by their lower-case form.
func definedMembers(types []any) map[string]string {
	out := map[string]string{}
	for _, v := range types {
		t := reflect.TypeOf(v)
		for t != nil && t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t == nil || t.Kind() != reflect.Struct {
			continue
		}
		m, ok := memberCache.Load(t)
		if !ok {
			names := map[string]string{}
			collectMembers(t, names)
			m, _ = memberCache.LoadOrStore(t, names)
		}
		for k, n := range m.(map[string]string) {
			out[k] = n
		}
	}
	return out
}

func collectMembers(t reflect.Type, names map[string]string) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-":
		case f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct:
			collectMembers(f.Type, names)
		case f.IsExported():
			if name == "" {
				name = f.Name
			}
			names[strings.ToLower(name)] = name
		}
	}
}
