package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/fedgate/fedgate/shared/federation"
)

// Status news arrives out of order (a response and a status event race): an
// agent's record never moves back to an earlier stage.
func TestAgentStatusNeverGoesBack(t *testing.T) {
	ctx := context.Background()
	t.Parallel()
	agents := openStore(t).Agents
	save := func(status string) {
		t.Helper()
		if err := agents.Save(ctx, "ws", federation.Agent{AgentID: "a1", ConnectionID: "c1", TaskID: "t", Status: status, UpdatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct{ save, want string }{
		{"spawning", "spawning"}, {"running", "running"}, {"spawning", "running"},
		{"killed", "killed"}, {"running", "killed"}, {"completed", "completed"},
	}
	for _, s := range steps {
		save(s.save)
		got, err := agents.Get(ctx, "ws", "c1", "a1")
		if err != nil || got.Status != s.want || got.TaskID != "t" {
			t.Fatalf("after %s: %+v %v, want %s", s.save, got, err, s.want)
		}
	}
}
