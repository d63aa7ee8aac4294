package openapi

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fedgate/fedgate/shared/routes"
)

// Every HTTP route of the route table has an entry, and every entry is a
// route: adding a route without describing it fails here.
func TestEveryRouteHasAnOperation(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range routes.All {
		if !r.IsHTTP() || r.IsDefault() { // $default answers only 404: no operation
			continue
		}
		key := r.Method + " " + r.Path
		seen[key] = true
		op, ok := Operations[key]
		if !ok {
			t.Errorf("route %s (%s) has no entry in openapi.Operations", r.Name, key)
			continue
		}
		if op.Summary == "" || op.Tag == "" || !slices.ContainsFunc(Tags, func(s Schema) bool { return s["name"] == op.Tag }) {
			t.Errorf("%s: summary %q, tag %q (one of Tags)", key, op.Summary, op.Tag)
		}
		if (op.Envelope != "") != (r.Auth == routes.Signed) || op.Envelope != "" && op.Body != nil {
			t.Errorf("%s: signed routes, and only they, take an envelope (and no other body)", key)
		}
		if op.Envelope != "" && !slices.Contains(EnvelopeTypes(), op.Envelope) {
			t.Errorf("%s: unknown envelope type %s", key, op.Envelope)
		}
		if len(op.Answers) == 0 {
			t.Errorf("%s: no success answer", key)
		}
		for _, a := range op.Answers {
			n := 0
			for _, has := range []bool{a.Type != nil, a.Envelope != "", a.Schema != nil} {
				if has {
					n++
				}
			}
			if n != 1 || a.Status < 200 || a.Status > 299 || a.Description == "" {
				t.Errorf("%s: answer %d needs one schema (type, envelope or literal), a 2xx status and a description", key, a.Status)
			}
		}
		for _, name := range op.Required {
			if op.Body == nil || !slices.ContainsFunc(Members(op.Body), func(m Member) bool { return m.Name == name }) {
				t.Errorf("%s: required member %q is not a member of its body %v", key, name, op.Body)
			}
		}
	}
	for key := range Operations {
		if !seen[key] {
			t.Errorf("openapi.Operations has %s, which is no HTTP route", key)
		}
	}
}

// Every refinement still names a member of a type the document describes.
func TestRefinementsNameMembers(t *testing.T) {
	reg := newRegistry(Refinements)
	if _, err := documentWith(reg); err != nil {
		t.Fatal(err)
	}
	for key := range Refinements {
		if !reg.used[key] {
			t.Errorf("refinement %s names no member of a described type", key)
		}
	}
}

// The document's error codes are exactly shared/federation's.
func TestErrorCodesAreFederations(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join("..", "federation", "errors.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var declared []string
	ast.Inspect(f, func(n ast.Node) bool {
		if spec, ok := n.(*ast.ValueSpec); ok {
			if id, ok := spec.Type.(*ast.Ident); ok && id.Name == "Code" {
				for _, v := range spec.Values {
					if lit, ok := v.(*ast.BasicLit); ok {
						declared = append(declared, strings.Trim(lit.Value, `"`))
					}
				}
			}
		}
		return true
	})
	got := codeNames()
	slices.Sort(declared)
	slices.Sort(got)
	if len(declared) == 0 || !slices.Equal(declared, got) {
		t.Errorf("codes in the document %v, in shared/federation %v", got, declared)
	}
}

type inner struct {
	Deep  string `json:"deep"`
	Clash string `json:"clash"`
}

type sample struct {
	inner
	Name     string            `json:"name"`
	Note     string            `json:"note,omitempty"`
	When     time.Time         `json:"when"`
	Maybe    *time.Time        `json:"maybe"`
	List     []string          `json:"list"`
	Tags     map[string]string `json:"tags,omitempty"`
	Raw      json.RawMessage   `json:"raw"`
	Count    int64             `json:"count,string"`
	Clash    int               `json:"clash"`
	Hidden   string            `json:"-"`
	internal string
}

// Schemas say what encoding/json writes: promoted and shadowed members,
// omitempty, null for nil pointers and slices, time as date-time.
func TestSchemaFollowsEncodingJSON(t *testing.T) {
	reg := newRegistry(nil)
	ref := reg.of(reflect.TypeFor[sample](), answer)
	if ref["$ref"] != "#/components/schemas/sample" {
		t.Fatalf("ref %v", ref)
	}
	s := reg.schemas["sample"].(Schema)
	props := s["properties"].(Schema)
	want := map[string]string{
		"deep": `{"type":"string"}`, "clash": `{"type":"integer"}`, "name": `{"type":"string"}`, "note": `{"type":"string"}`,
		"when": `{"format":"date-time","type":"string"}`, "maybe": `{"format":"date-time","type":["string","null"]}`,
		"list": `{"items":{"type":"string"},"type":["array","null"]}`, "tags": `{"additionalProperties":{"type":"string"},"type":"object"}`,
		"raw": `{}`, "count": `{"type":"string"}`,
	}
	for name, w := range want {
		got, _ := json.Marshal(props[name])
		if string(got) != w {
			t.Errorf("%s: %s, want %s", name, got, w)
		}
	}
	if len(props) != len(want) {
		t.Errorf("members %v", props)
	}
	if got := s["required"].([]string); slices.Contains(got, "note") || slices.Contains(got, "tags") || !slices.Contains(got, "deep") {
		t.Errorf("required %v", got)
	}
	// Requests: strict, nothing required by the decoder.
	reg.of(reflect.TypeFor[sample](), request)
	in := reg.schemas["sampleInput"].(Schema)
	if in["required"] != nil || in["additionalProperties"] != false {
		t.Errorf("request schema %v", in)
	}
}

// The document is deterministic and names the server it is built for.
func TestBuildNamesTheServer(t *testing.T) {
	a, err := Build(Options{ServerURL: "https://fed.example.org/"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Build(Options{ServerURL: "https://fed.example.org/"})
	if string(a) != string(b) || !strings.Contains(string(a), `"url": "https://fed.example.org/api/v1/federation"`) {
		t.Errorf("document not deterministic or without its server")
	}
}
