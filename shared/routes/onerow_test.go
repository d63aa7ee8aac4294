package routes

import (
	"go/scanner"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/fedgate/fedgate/shared/queue"
)

// otherNames are names of queues and indexes that happen to equal a
// worker's name (the "ack" queue feeds the "ack" function; the "fanout" index).
var otherNames = map[string]bool{queue.Ack: true, queue.Fanout: true}

// stringLiterals returns the string literals of a Go source (not its comments).
func stringLiterals(src []byte) []string {
	var s scanner.Scanner
	fset := token.NewFileSet()
	s.Init(fset.AddFile("", fset.Base(), len(src)), src, nil, 0)
	var out []string
	for {
		_, tok, lit := s.Scan()
		if tok == token.EOF {
			return out
		}
		if tok == token.STRING {
			if v, err := strconv.Unquote(lit); err == nil {
				out = append(out, v)
			}
		}
	}
}

// Adding a function touches four places: its row here, its handler (with
// the registry line next to it, shared/handlers), its functions/<name>/main.go
// and its sample event events/<name>.json. Nothing else in the code may
// list functions by name (no access maps, no per-function tables in infra):
// everything else is derived from routes.All.
func TestAFunctionLivesInFourPlaces(t *testing.T) {
	root := filepath.Join("..", "..")
	allowed := func(path string) bool {
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		return strings.HasPrefix(rel, "shared/routes/") || strings.HasPrefix(rel, "shared/handlers/") ||
			strings.HasPrefix(rel, "functions/") || strings.HasSuffix(rel, "_test.go")
	}
	var sources []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != root || d.Name() == "node_modules" || d.Name() == "build") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") && !allowed(path) {
			sources = append(sources, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range sources {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, lit := range stringLiterals(data) {
			if _, ok := ByName(lit); ok && !otherNames[lit] {
				t.Errorf("%s names function %q: derive it from routes.All instead", path, lit)
			}
		}
	}
	for _, r := range All {
		for _, p := range []string{filepath.Join(root, "functions", r.Name, "main.go"), filepath.Join(root, "events", r.Name+".json")} {
			if _, err := os.Stat(p); err != nil {
				t.Errorf("%s: %v", r.Name, err)
			}
		}
	}
}
