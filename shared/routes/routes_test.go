package routes

import (
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"github.com/fedgate/fedgate/shared/queue"
	"github.com/fedgate/fedgate/shared/store"
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
		case Public, User, WorkspaceAdmin, InstanceAdmin, Operator, Signed:
		default:
			t.Errorf("%s: unknown auth %q", r.Name, r.Auth)
		}
		incoming := len(r.Path) >= 9 && r.Path[:9] == "/incoming"
		if incoming != (r.Auth == Signed) {
			t.Errorf("%s: /incoming/* routes and only they are signed (auth %s)", r.Name, r.Auth)
		}
	}
}

// Every row has exactly one trigger, and its queues are ones the stack creates.
func TestEveryRouteHasOneTrigger(t *testing.T) {
	queues := knownQueues()
	for _, r := range All {
		n := 0
		for _, is := range []bool{r.IsHTTP(), r.IsQueue(), r.IsScheduled()} {
			if is {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s has %d triggers (HTTP %v, queues %v, schedule %q)", r.Name, n, r.IsHTTP(), r.Queues, r.Schedule)
		}
		if r.IsHTTP() != (r.Path != "") || r.IsHTTP() != (r.Auth != "") {
			t.Errorf("%s: method, path and auth go together (%q %q %q)", r.Name, r.Method, r.Path, r.Auth)
		}
		for _, q := range r.Queues {
			if !queues[q] {
				t.Errorf("%s is triggered by unknown queue %q", r.Name, q)
			}
		}
	}
}

func knownQueues() map[string]bool {
	known := map[string]bool{}
	for _, q := range queue.Queues {
		known[q.Name], known[q.DLQName()] = true, true
	}
	return known
}

// A row's access names only tables and queues that exist, each once; the
// stack would fail to synthesize otherwise, but later and less clearly.
func TestAccessNamesKnownResources(t *testing.T) {
	tables := map[string]bool{}
	for _, def := range store.Tables {
		tables[def.Name] = true
	}
	queues := knownQueues()
	for _, r := range All {
		a := r.Access
		for field, names := range map[string][]string{"Read": a.Read, "Write": a.Write} {
			for _, n := range names {
				if !tables[n] {
					t.Errorf("%s: %s names unknown table %q", r.Name, field, n)
				}
			}
			if len(slices.Compact(slices.Sorted(slices.Values(names)))) != len(names) {
				t.Errorf("%s: %s lists a table twice: %v", r.Name, field, names)
			}
		}
		for _, n := range a.Read {
			if slices.Contains(a.Write, n) {
				t.Errorf("%s: %s is in Read and Write; Write alone includes reading", r.Name, n)
			}
		}
		for _, n := range a.Send {
			if !queues[n] {
				t.Errorf("%s: Send names unknown queue %q", r.Name, n)
			}
		}
		if len(slices.Compact(slices.Sorted(slices.Values(a.Send)))) != len(a.Send) {
			t.Errorf("%s: Send lists a queue twice: %v", r.Name, a.Send)
		}
		// Every function keeps state somewhere: a row without tables was
		// most likely added without thinking about its access.
		if len(a.Tables()) == 0 && !a.Stateless {
			t.Errorf("%s: its row grants no table (say Stateless if it touches nothing)", r.Name)
		}
		if a.Stateless && (len(a.Tables()) > 0 || len(a.Send) > 0 || a.SigningKey != NoKey || a.Secret) {
			t.Errorf("%s: Stateless, yet its row grants %+v", r.Name, a)
		}
		// The sealed signing key lives in the instance table, and whichever
		// function starts first creates the identity there.
		if (a.SigningKey != NoKey) != a.Writes(store.InstanceTable) {
			t.Errorf("%s: SigningKey %v but writes the instance table %v; they go together", r.Name, a.SigningKey, a.Writes(store.InstanceTable))
		}
	}
}

func TestAccessTables(t *testing.T) {
	a := Access{Read: []string{"b", "a"}, Write: []string{"c", "a"}}
	if got := a.Tables(); !slices.Equal(got, []string{"b", "a", "c"}) {
		t.Errorf("Tables() = %v", got)
	}
	if !a.Writes("c") || a.Writes("b") {
		t.Errorf("Writes: c %v, b %v", a.Writes("c"), a.Writes("b"))
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
