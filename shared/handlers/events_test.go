package handlers

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/fedgate/fedgate/shared/api"
	"github.com/fedgate/fedgate/shared/app/apptest"
	"github.com/fedgate/fedgate/shared/routes"
)

// loadEvent reads events/<name>.json, the sample request for a function.
func loadEvent(t *testing.T, name string) api.Request {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "events", name+".json"))
	if err != nil {
		t.Fatalf("sample event for %s: %v", name, err)
	}
	var req api.Request
	if err := json.Unmarshal(data, &req); err != nil {
		t.Fatalf("sample event for %s: %v", name, err)
	}
	return req
}

// Every HTTP function has a sample event in events/, and its handler answers
// it with a success against fresh tables.
func TestSampleEvents(t *testing.T) {
	for _, r := range routes.All {
		if !r.IsHTTP() {
			continue
		}
		t.Run(r.Name, func(t *testing.T) {
			req := loadEvent(t, r.Name)
			if req.RouteKey != r.RouteKey() {
				t.Errorf("sample routeKey %q, route %q", req.RouteKey, r.RouteKey())
			}
			a := apptest.New(t)
			resp, err := HTTP[r.Name](a)(context.Background(), req)
			if err != nil || resp.StatusCode/100 != 2 {
				t.Fatalf("status %d err %v body %s", resp.StatusCode, err, resp.Body)
			}
		})
	}
}
