package clients_test

import (
	"encoding/json"
	"maps"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"fedgate.tools/clients/oapi"
	"fedgate.tools/clients/ogen"
)

// A user's client must hold what fedgate sends, not only compile: an object
// schema a generator misreads compiles to a type that drops the object's
// members (ogen made struct{} of {"type": "object"}), which building alone
// does not show. So every envelope example of the document (the signed
// bodies of /incoming/*, from events/) is decoded with each generated Go
// client's type and encoded again, and must come back member for member;
// then again with its free-form member (data, payload, context,
// capabilities) holding each kind of value its schema allows.
func TestEnvelopesRoundTrip(t *testing.T) {
	type envelope struct {
		ogen, oapi func() any // the envelope's type, as each generator names it
		member     string     // its free-form member
		anyValue   bool       // the member may be any JSON value, not only an object or null
	}
	envelopes := map[string]envelope{
		"CONNECT":          {func() any { return new(ogen.CONNECT) }, func() any { return new(oapi.CONNECT) }, "capabilities", false},
		"CONNECT_RESPONSE": {func() any { return new(ogen.CONNECTRESPONSE) }, func() any { return new(oapi.CONNECTRESPONSE) }, "capabilities", false},
		"DISCONNECT":       {func() any { return new(ogen.DISCONNECT) }, func() any { return new(oapi.DISCONNECT) }, "", false},
		"QUERY":            {func() any { return new(ogen.QUERY) }, func() any { return new(oapi.QUERY) }, "context", false},
		"QUERY_RESPONSE":   {func() any { return new(ogen.QUERYRESPONSE) }, func() any { return new(oapi.QUERYRESPONSE) }, "data", true},
		"COMMAND":          {func() any { return new(ogen.COMMAND) }, func() any { return new(oapi.COMMAND) }, "payload", false},
		"COMMAND_RESPONSE": {func() any { return new(ogen.COMMANDRESPONSE) }, func() any { return new(oapi.COMMANDRESPONSE) }, "data", true},
		"EVENT":            {func() any { return new(ogen.EVENT) }, func() any { return new(oapi.EVENT) }, "payload", false},
		"EVENT_ACK":        {func() any { return new(ogen.EVENTACK) }, func() any { return new(oapi.EVENTACK) }, "", false},
	}
	examples := envelopeExamples(t)
	// An object and null, which every free-form member may hold, then what only "any JSON value" allows.
	values := []any{map[string]any{"agentId": "a-1", "nested": []any{1.5, "x", nil}}, nil, []any{"a", 2.0}, "text", 3.25, true}
	tried := map[string]bool{}
	for _, ex := range examples {
		e, ok := envelopes[ex.envelope]
		if !ok {
			t.Errorf("envelope %s has no generated type listed here: add it", ex.envelope)
			continue
		}
		tried[ex.envelope] = true
		variants := []map[string]any{ex.value}
		for i, v := range values {
			if e.member == "" || i >= 2 && !e.anyValue {
				break
			}
			changed := maps.Clone(ex.value)
			changed[e.member] = v
			variants = append(variants, changed)
		}
		for _, in := range variants {
			raw, _ := json.Marshal(in)
			for generator, decoded := range map[string]func() any{"ogen": e.ogen, "oapi-codegen": e.oapi} {
				v := decoded()
				if err := json.Unmarshal(raw, v); err != nil {
					t.Errorf("%s: %s cannot decode %s: %v", generator, ex.envelope, raw, err)
					continue
				}
				if val, ok := v.(interface{ Validate() error }); ok {
					if err := val.Validate(); err != nil {
						t.Errorf("%s: %s refuses %s: %v", generator, ex.envelope, raw, err)
					}
				}
				again, err := json.Marshal(v)
				if err != nil {
					t.Errorf("%s: %s cannot encode what it decoded from %s: %v", generator, ex.envelope, raw, err)
					continue
				}
				var out map[string]any
				_ = json.Unmarshal(again, &out)
				// A Go pointer cannot tell a null member from an absent one:
				// oapi-codegen writes an optional null back as absent, which
				// says the same (no data).
				for k, x := range in {
					if _, kept := out[k]; x == nil && !kept {
						out[k] = nil
					}
				}
				if !reflect.DeepEqual(in, out) {
					t.Errorf("%s: %s changes in the round trip:\n in  %s\n out %s", generator, ex.envelope, raw, again)
				}
			}
		}
	}
	for name := range envelopes {
		if !tried[name] {
			t.Errorf("no example of %s in the document", name)
		}
	}
}

type example struct {
	envelope string
	value    map[string]any
}

// envelopeExamples reads the request examples of the document's operations
// whose body is an envelope schema.
func envelopeExamples(t *testing.T) []example {
	path := os.Getenv("OPENAPI_DOCUMENT")
	if path == "" {
		path = "../../openapi.json"
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]struct {
			RequestBody struct {
				Content map[string]struct {
					Schema struct {
						Ref string `json:"$ref"`
					}
					Examples map[string]struct{ Value map[string]any }
				}
			}
		}
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var out []example
	for _, item := range doc.Paths {
		for _, op := range item {
			media, ok := op.RequestBody.Content["application/json"]
			if !ok || len(media.Examples) == 0 {
				continue
			}
			name := strings.TrimPrefix(media.Schema.Ref, "#/components/schemas/")
			for _, e := range media.Examples {
				// An envelope's schema is named by its type (EVENT, EVENT_ACK, …).
				if e.Value["type"] == name {
					out = append(out, example{name, e.Value})
				}
			}
		}
	}
	// No route takes a QUERY_RESPONSE (it is the answer to a QUERY), so its
	// example is COMMAND_RESPONSE's: the two have the same members.
	for _, ex := range slices.Clone(out) {
		if ex.envelope == "COMMAND_RESPONSE" {
			v := maps.Clone(ex.value)
			v["type"] = "QUERY_RESPONSE"
			out = append(out, example{"QUERY_RESPONSE", v})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].envelope < out[j].envelope })
	return out
}
