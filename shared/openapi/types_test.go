package openapi

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
)

// Every schema in the document has a type, so client generators make typed
// code of it (issue 30: ogen read a const without a type as raw JSON and
// generated a client that does not compile, and fell back to "any" for the
// untyped members). `make clients` generates and builds the clients; this
// pins the property without them.
func TestEverySchemaHasAType(t *testing.T) {
	data, err := Build(Options{})
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	problems, checked := typeProblems(doc)
	for _, p := range problems {
		t.Error(p)
	}
	if checked < 300 { // the document has hundreds: fewer means the walk misses them
		t.Errorf("checked %d schemas", checked)
	}
}

// The rule catches each kind of schema generators read as untyped.
func TestTypeRuleCatchesUntypedSchemas(t *testing.T) {
	var doc map[string]any
	_ = json.Unmarshal([]byte(`{
	  "components": {"schemas": {"S": {"type": "object", "properties": {
	    "raw": {},
	    "const": {"const": "EVENT"},
	    "enum": {"enum": ["A", "B"]},
	    "empty": {"type": "object"},
	    "several": {"type": ["string", "integer"]},
	    "branch": {"anyOf": [{"type": "string"}, {"description": "untyped"}]},
	    "deep": {"type": "array", "items": {"type": "object", "additionalProperties": {}}},
	    "fine": {"anyOf": [{"$ref": "#/components/schemas/S"}, {"type": ["object", "null"], "additionalProperties": true}]}
	  }}}, "responses": {}},
	  "paths": {"/x": {"get": {
	    "parameters": [{"name": "p", "in": "query", "schema": {"description": "untyped"}}],
	    "responses": {"200": {"content": {"application/json": {"schema": {"const": 1}}}}}
	  }}}
	}`), &doc)
	problems, _ := typeProblems(doc)
	for _, want := range []string{".raw: no type", ".const: const or enum without a type", ".enum: const or enum without a type",
		".empty: an object without properties", ".several: several types", ".branch.anyOf[1]: no type",
		".deep.items.additionalProperties: no type", "parameter p: no type", "get /x 200.content.application/json.schema: const"} {
		if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, want) }) {
			t.Errorf("not caught: %s", want)
		}
	}
	if slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, ".fine") }) || len(problems) != 9 {
		t.Errorf("problems %q", problems)
	}
}

// typeProblems walks every schema of an OpenAPI document (components,
// parameters, request and response bodies, and everything nested in them)
// and says where one breaks the rule: a type, or a $ref, or an anyOf/oneOf
// whose branches each follow the rule; a const or enum only with a type; at
// most one type besides null (the Go generators refuse more); and an object
// without properties says additionalProperties (otherwise generators make an
// empty struct or Record<string, never> of it and drop its members).
func typeProblems(doc map[string]any) (problems []string, checked int) {
	var check func(s any, at string)
	check = func(s any, at string) {
		m, ok := s.(map[string]any)
		if !ok {
			problems = append(problems, at+": not a schema")
			return
		}
		checked++
		if _, ok := m["$ref"]; ok {
			return
		}
		branches := 0
		for _, k := range []string{"anyOf", "oneOf"} {
			list, _ := m[k].([]any)
			for i, b := range list {
				check(b, fmt.Sprintf("%s.%s[%d]", at, k, i))
				branches++
			}
		}
		types := typesOf(m["type"])
		switch {
		case len(types) == 0 && (m["const"] != nil || m["enum"] != nil):
			problems = append(problems, at+": const or enum without a type")
		case len(types) == 0 && branches == 0:
			problems = append(problems, at+": no type")
		case len(slices.DeleteFunc(slices.Clone(types), func(t string) bool { return t == "null" })) > 1:
			problems = append(problems, fmt.Sprintf("%s: several types %v", at, types))
		}
		if slices.Contains(types, "object") && m["properties"] == nil && m["additionalProperties"] == nil {
			problems = append(problems, at+": an object without properties needs additionalProperties")
		}
		if _, ok := m["allOf"]; ok {
			problems = append(problems, at+": allOf (the generators differ on it; the document does not use it)")
		}
		props, _ := m["properties"].(map[string]any)
		for _, name := range sortedKeys(props) {
			check(props[name], at+".properties."+name)
		}
		for _, k := range []string{"items", "additionalProperties", "not"} {
			if sub, ok := m[k]; ok {
				if _, isBool := sub.(bool); !isBool { // true/false: any value or none, no type to give
					check(sub, at+"."+k)
				}
			}
		}
	}
	media := func(content any, at string) {
		c, _ := content.(map[string]any)
		for _, mt := range sortedKeys(c) {
			m, _ := c[mt].(map[string]any)
			check(m["schema"], at+".content."+mt+".schema")
		}
	}
	components, _ := doc["components"].(map[string]any)
	schemas, _ := components["schemas"].(map[string]any)
	for _, name := range sortedKeys(schemas) {
		check(schemas[name], "components.schemas."+name)
	}
	responses, _ := components["responses"].(map[string]any)
	for _, name := range sortedKeys(responses) {
		r, _ := responses[name].(map[string]any)
		media(r["content"], "components.responses."+name)
	}
	paths, _ := doc["paths"].(map[string]any)
	for _, path := range sortedKeys(paths) {
		item, _ := paths[path].(map[string]any)
		for _, method := range sortedKeys(item) {
			op, _ := item[method].(map[string]any)
			at := method + " " + path
			params, _ := op["parameters"].([]any)
			for _, p := range params {
				p, _ := p.(map[string]any)
				check(p["schema"], fmt.Sprintf("%s parameter %v", at, p["name"]))
			}
			if body, ok := op["requestBody"].(map[string]any); ok {
				media(body["content"], at+" requestBody")
			}
			answers, _ := op["responses"].(map[string]any)
			for _, status := range sortedKeys(answers) {
				a, _ := answers[status].(map[string]any)
				media(a["content"], at+" "+status)
			}
		}
	}
	return problems, checked
}

func typesOf(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, t := range v {
			if s, ok := t.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
