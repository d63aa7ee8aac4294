package store_test

import (
	"context"
	"strings"
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

// Agents are listed newest first (by when the hub first heard of them),
// paged, of one connection when asked.
func TestAgentsListNewestFirst(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	agents := openStore(t).Agents
	base := time.Now().UTC()
	for i, id := range []string{"a1", "a2", "a3"} {
		conn := "c1"
		if id == "a2" {
			conn = "c2"
		}
		if err := agents.Save(ctx, "ws", federation.Agent{AgentID: id, ConnectionID: conn, Status: "spawning", UpdatedAt: base.Add(time.Duration(i) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	// Later news about a1 does not move it.
	if err := agents.Save(ctx, "ws", federation.Agent{AgentID: "a1", ConnectionID: "c1", Status: "running", UpdatedAt: base.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	var got []string
	cursor := ""
	for {
		page, err := agents.List(ctx, "ws", "", 2, cursor)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range page.Items {
			got = append(got, a.AgentID)
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	if strings.Join(got, ",") != "a3,a2,a1" {
		t.Fatalf("agents %v, want newest first", got)
	}
	c1, _ := agents.List(ctx, "ws", "c1", 10, "")
	if len(c1.Items) != 2 || c1.Items[0].AgentID != "a3" || c1.Items[1].Status != "running" {
		t.Fatalf("agents of c1: %+v", c1.Items)
	}
}
