package handlers

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/fedgate/fedgate/shared/routes"
)

// The local runner serves each route through HTTP[name]; the Lambda runs
// whatever functions/<name>/main.go passes to lambda.Start. This test makes
// sure both are the same constructor, so local runs exercise the real thing.
func TestMainsStartTheRegisteredHandler(t *testing.T) {
	for _, r := range routes.All {
		var ctor any
		var ok bool
		switch {
		case r.IsHTTP():
			ctor, ok = HTTP[r.Name]
		case r.IsQueue():
			ctor, ok = SQS[r.Name]
		case r.IsScheduled():
			ctor, ok = Scheduled[r.Name]
		}
		if !ok {
			t.Errorf("route %s has no handler constructor in the registry for its trigger", r.Name)
			continue
		}
		registered := runtime.FuncForPC(reflect.ValueOf(ctor).Pointer()).Name()
		used := constructorInMain(t, r.Name)
		if !strings.HasSuffix(registered, "/handlers."+used) {
			t.Errorf("functions/%s/main.go starts handlers.%s but handlers.HTTP[%q] is %s", r.Name, used, r.Name, registered)
		}
	}
	for name := range HTTP {
		if r, ok := routes.ByName(name); !ok || !r.IsHTTP() {
			t.Errorf("handlers.HTTP has %s, which is no HTTP route", name)
		}
	}
	for name := range SQS {
		if r, ok := routes.ByName(name); !ok || !r.IsQueue() {
			t.Errorf("handlers.SQS has %s, which is no queue route", name)
		}
	}
	for name := range Scheduled {
		if r, ok := routes.ByName(name); !ok || !r.IsScheduled() {
			t.Errorf("handlers.Scheduled has %s, which is no scheduled route", name)
		}
	}
}

// constructorInMain finds X in the handlers.X(...) call of a main.go.
func constructorInMain(t *testing.T, name string) string {
	t.Helper()
	path := filepath.Join("..", "..", "functions", name, "main.go")
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var found string
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		if sel, ok := call.Fun.(*ast.SelectorExpr); ok {
			if id, ok := sel.X.(*ast.Ident); ok && id.Name == "handlers" {
				found = sel.Sel.Name
			}
		}
		return true
	})
	if found == "" {
		t.Fatalf("%s calls no handlers.X constructor", path)
	}
	return found
}
