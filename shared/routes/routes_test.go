package routes

import (
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// Every functions/<name> has exactly one route and every route has its
// functions/<name>: adding one without the other fails here.
func TestRoutesMatchFunctionDirectories(t *testing.T) {
	entries, err := os.ReadDir(filepath.Join("..", "..", "functions"))
	if err != nil {
		t.Fatal(err)
	}
	dirs := map[string]bool{}
	for _, e := range entries {
		if e.IsDir() {
			dirs[e.Name()] = true
			if _, err := os.Stat(filepath.Join("..", "..", "functions", e.Name(), "main.go")); err != nil {
				t.Errorf("functions/%s has no main.go", e.Name())
			}
		}
	}
	seen := map[string]bool{}
	for _, r := range All {
		if seen[r.Name] {
			t.Errorf("route %s listed twice", r.Name)
		}
		seen[r.Name] = true
		if !dirs[r.Name] {
			t.Errorf("route %s has no functions/%s", r.Name, r.Name)
		}
	}
	var extra []string
	for d := range dirs {
		if !seen[d] {
			extra = append(extra, d)
		}
	}
	sort.Strings(extra)
	for _, d := range extra {
		t.Errorf("functions/%s has no entry in routes.All", d)
	}
}

func TestRoutesAreWellFormed(t *testing.T) {
	keys := map[string]string{}
	for _, r := range All {
		if !r.IsHTTP() {
			continue
		}
		if prev, dup := keys[r.RouteKey()]; dup {
			t.Errorf("%s and %s share route key %s", prev, r.Name, r.RouteKey())
		}
		keys[r.RouteKey()] = r.Name
		switch r.Auth {
		case Public, User, Admin, Signed:
		default:
			t.Errorf("%s: unknown auth %q", r.Name, r.Auth)
		}
		incoming := len(r.Path) >= 9 && r.Path[:9] == "/incoming"
		if incoming != (r.Auth == Signed) {
			t.Errorf("%s: /incoming/* routes and only they are signed (auth %s)", r.Name, r.Auth)
		}
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		method, path string
		want         string
		params       map[string]string
	}{
		{"GET", "/api/v1/federation/instance", "instance-get", nil},
		{"GET", "/api/v1/federation/instance/", "instance-get", nil},
		{"PATCH", "/api/v1/federation/instance", "instance-update", nil},
		{"POST", "/api/v1/federation/instance/keys/rotate", "instance-rotate-keys", nil},
		{"DELETE", "/api/v1/federation/instance", "", nil},
		{"GET", "/api/v1/federation/nope", "", nil},
		{"GET", "/instance", "", nil},
	}
	for _, tt := range tests {
		r, params, ok := Match(tt.method, tt.path)
		if ok != (tt.want != "") || r.Name != tt.want {
			t.Errorf("Match(%s %s) = %q, %v; want %q", tt.method, tt.path, r.Name, ok, tt.want)
		}
		for k, v := range tt.params {
			if params[k] != v {
				t.Errorf("Match(%s %s) param %s = %q, want %q", tt.method, tt.path, k, params[k], v)
			}
		}
	}
	params, ok := matchSegments(splitPath("/a/{id}/b"), splitPath("/a/x-1/b"))
	if !ok || params["id"] != "x-1" {
		t.Errorf("path parameter: %v %v", params, ok)
	}
	if _, ok := matchSegments(splitPath("/a/{id}"), splitPath("/a/")); ok {
		t.Error("empty path parameter matched")
	}
}
