package tests

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fedgate/fedgate/infra/local"
	"github.com/fedgate/fedgate/infra/local/orchestrator"
	"github.com/fedgate/fedgate/shared/config"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/routes"
)

const simKey = "test-orchestrator-key"

// agentCluster runs hub + spoke with the orchestrator simulator behind the
// spoke (the spoke's API key may differ from the simulator's).
func agentCluster(t *testing.T, sim *orchestrator.Simulator, spokeKey string, tweak func(string, *config.Config)) (*local.Instance, *local.Instance, string) {
	t.Helper()
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	c := clusterWith(t, func(name string, cfg *config.Config) {
		fastRetries(name, cfg)
		if name == "spoke" {
			cfg.OrchestratorURL, cfg.OrchestratorAPIKey = srv.URL, spokeKey
		}
		if tweak != nil {
			tweak(name, cfg)
		}
	}, "hub", "spoke")
	hub, spoke := c.Instances["hub"], c.Instances["spoke"]
	return hub, spoke, connect(t, hub, spoke, token(t, "ws-hub"), token(t, "default"))
}

func spawnBody(conn string) map[string]any {
	return map[string]any{
		"connectionId": conn, "taskId": "task-1", "agentType": "worker",
		"context": map[string]any{"repository": "git@example.org:a/b.git", "branch": "main", "workItems": []string{"fix it"}},
		"options": map[string]int{"priority": 3},
	}
}

// command waits for a command to reach a final status.
func command(t *testing.T, hub *local.Instance, tok, id string) federation.Message {
	t.Helper()
	var m federation.Message
	call(t, hub, "GET", "/commands/"+id+"?waitSeconds=20", tok, nil).decode(t, &m)
	return m
}

func agents(t *testing.T, hub *local.Instance, tok, conn string) []federation.Agent {
	t.Helper()
	var page struct{ Items []federation.Agent }
	call(t, hub, "GET", "/agents?connectionId="+conn, tok, nil).decode(t, &page)
	return page.Items
}

func TestAgentSpawnStatusKill(t *testing.T) {
	t.Parallel()
	sim := &orchestrator.Simulator{APIKey: simKey, MaxConcurrent: 5, SpawnDelay: 300 * time.Millisecond, RunTime: time.Second}
	hub, _, conn := agentCluster(t, sim, simKey, nil)
	tok := token(t, "ws-hub")

	r := call(t, hub, "POST", "/agents/spawn", tok, spawnBody(conn))
	if r.Status != http.StatusAccepted {
		t.Fatalf("spawn: %d %s", r.Status, r.Body)
	}
	var m federation.Message
	r.decode(t, &m)
	m = command(t, hub, tok, m.ID)
	if m.Status != federation.MsgCompleted || !m.Response.Success {
		t.Fatalf("spawn command %+v", m)
	}
	list := agents(t, hub, tok, conn)
	// spawning, or already running if the watcher's status event was quicker.
	if len(list) != 1 || list[0].TaskID != "task-1" || list[0].AgentType != "worker" || (list[0].Status != "spawning" && list[0].Status != "running") {
		t.Fatalf("agents %+v", list)
	}
	id := list[0].AgentID
	if sim.Status(id) == "" {
		t.Fatalf("the orchestrator has no agent %s", id)
	}
	// Status follows the orchestrator to completed.
	eventually(t, 15*time.Second, "completed", func() bool {
		var st federation.Message
		call(t, hub, "GET", "/agents/"+id+"?connectionId="+conn, tok, nil).decode(t, &st)
		command(t, hub, tok, st.ID)
		return agents(t, hub, tok, conn)[0].Status == "completed"
	})
	if a := agents(t, hub, tok, conn)[0]; a.CompletedAt == nil || a.SpawnedAt == nil {
		t.Errorf("completed agent without times: %+v", a)
	}

	// A second agent, killed while it runs (however slow this machine is).
	sim.SetRunTime(time.Hour)
	call(t, hub, "POST", "/agents/spawn", tok, spawnBody(conn)).decode(t, &m)
	command(t, hub, tok, m.ID)
	var second string
	for _, a := range agents(t, hub, tok, conn) {
		if a.AgentID != id {
			second = a.AgentID
		}
	}
	r = call(t, hub, "POST", "/agents/"+second+"/kill", tok, map[string]string{"connectionId": conn})
	if r.Status != http.StatusAccepted {
		t.Fatalf("kill: %d %s", r.Status, r.Body)
	}
	r.decode(t, &m)
	if m = command(t, hub, tok, m.ID); m.Status != federation.MsgCompleted {
		t.Fatalf("kill command %+v", m)
	}
	if sim.Status(second) != "killed" {
		t.Fatalf("orchestrator status %s", sim.Status(second))
	}
	for _, a := range agents(t, hub, tok, conn) {
		if a.AgentID == second && a.Status != "killed" {
			t.Fatalf("hub shows %s", a.Status)
		}
	}
}

func TestAgentSpawnRetriedAtTheLimit(t *testing.T) {
	t.Parallel()
	sim := &orchestrator.Simulator{APIKey: simKey, MaxConcurrent: 1, SpawnDelay: 100 * time.Millisecond, RunTime: time.Hour}
	hub, _, conn := agentCluster(t, sim, simKey, nil)
	tok := token(t, "ws-hub")
	var first, second federation.Message
	call(t, hub, "POST", "/agents/spawn", tok, spawnBody(conn)).decode(t, &first)
	command(t, hub, tok, first.ID)
	call(t, hub, "POST", "/agents/spawn", tok, spawnBody(conn)).decode(t, &second)
	time.Sleep(2 * time.Second) // the second spawn meets the limit (429) and is retried
	if sim.Count() != 1 {
		t.Fatalf("the orchestrator spawned %d agents at a limit of 1", sim.Count())
	}
	var m federation.Message
	call(t, hub, "GET", "/commands/"+second.ID, tok, nil).decode(t, &m)
	if m.Status.Final() {
		t.Fatalf("second spawn ended %s while the limit was reached", m.Status)
	}
	// Free the slot: the retried spawn succeeds.
	a := agents(t, hub, tok, conn)[0]
	call(t, hub, "POST", "/agents/"+a.AgentID+"/kill", tok, map[string]string{"connectionId": conn})
	if m = command(t, hub, tok, second.ID); m.Status != federation.MsgCompleted {
		t.Fatalf("second spawn %+v", m)
	}
	if sim.Count() != 2 || len(agents(t, hub, tok, conn)) != 2 {
		t.Fatalf("orchestrator %d agents, hub %d", sim.Count(), len(agents(t, hub, tok, conn)))
	}
}

func TestAgentFailures(t *testing.T) {
	t.Parallel()
	sim := &orchestrator.Simulator{APIKey: simKey, SpawnDelay: time.Second, RunTime: time.Hour}
	hub, spoke, conn := agentCluster(t, sim, "wrong-key", func(name string, c *config.Config) {
		if name == "spoke" {
			c.CommandTimeout = 3 * time.Second
		}
	})
	tok := token(t, "ws-hub")
	// A wrong API key: the orchestrator refuses, the hub learns why.
	var m federation.Message
	call(t, hub, "POST", "/agents/spawn", tok, spawnBody(conn)).decode(t, &m)
	if m = command(t, hub, tok, m.ID); m.Status != federation.MsgFailed || !contains([]byte(m.Error), "API key") {
		t.Fatalf("spawn with a wrong key %+v", m)
	}
	if sim.Count() != 0 {
		t.Fatal("an agent spawned with a wrong key")
	}

	bad := []struct {
		name   string
		body   map[string]any
		status int
	}{
		{"unknown agentType", func() map[string]any { b := spawnBody(conn); b["agentType"] = "janitor"; return b }(), 400},
		{"missing taskId", func() map[string]any { b := spawnBody(conn); delete(b, "taskId"); return b }(), 400},
		{"priority out of range", func() map[string]any { b := spawnBody(conn); b["options"] = map[string]int{"priority": 11}; return b }(), 400},
		{"another workspace's connection", spawnBody(conn), 404},
	}
	for _, tt := range bad {
		tk := tok
		if tt.name == "another workspace's connection" {
			tk = token(t, "ws-other")
		}
		if r := call(t, hub, "POST", "/agents/spawn", tk, tt.body); r.Status != tt.status {
			t.Errorf("%s: %d %s", tt.name, r.Status, r.Body)
		}
	}
	if r := call(t, hub, "POST", "/agents/agent-x/kill", token(t, "ws-other"), map[string]string{"connectionId": conn}); r.Status != 404 {
		t.Errorf("kill of another workspace's agent: %d", r.Status)
	}
	if r := call(t, hub, "POST", "/agents/agent-unknown/kill", tok, map[string]string{"connectionId": conn}); r.Status != 404 {
		t.Errorf("kill of an unknown agent: %d", r.Status)
	}

	// The spoke's allow-list excludes agent.spawn: 403 command_not_allowed, reported.
	caps := []string{"agent.status"}
	if r := call(t, spoke, "PATCH", "/instance", token(t, "default", routes.ScopeInstance), map[string]any{"capabilities": map[string]any{"commandTypes": caps}}); r.Status != 200 {
		t.Fatalf("patch: %d %s", r.Status, r.Body)
	}
	call(t, hub, "POST", "/agents/spawn", tok, spawnBody(conn)).decode(t, &m)
	if m = command(t, hub, tok, m.ID); m.Status != federation.MsgFailed || !contains([]byte(m.Error), "command_not_allowed") {
		t.Fatalf("spawn refused by the allow-list %+v", m)
	}
}

func TestAgentOrchestratorDown(t *testing.T) {
	t.Parallel()
	sim := &orchestrator.Simulator{APIKey: simKey}
	srv := httptest.NewServer(sim)
	srv.Close() // nothing listens there
	c := clusterWith(t, func(name string, cfg *config.Config) {
		fastRetries(name, cfg)
		if name == "spoke" {
			cfg.OrchestratorURL, cfg.OrchestratorAPIKey, cfg.CommandTimeout = srv.URL, simKey, 2*time.Second
		}
	}, "hub", "spoke")
	hub := c.Instances["hub"]
	tok := token(t, "ws-hub")
	conn := connect(t, hub, c.Instances["spoke"], tok, token(t, "default"))
	var m federation.Message
	call(t, hub, "POST", "/agents/spawn", tok, spawnBody(conn)).decode(t, &m)
	eventually(t, 20*time.Second, "FAILED with the reason", func() bool {
		m = command(t, hub, tok, m.ID)
		return m.Status == federation.MsgFailed
	})
	if !contains([]byte(m.Error), "orchestrator unreachable") {
		t.Fatalf("error %q does not say why", m.Error)
	}
}

// The hub subscribes to agent.status.changed when it first spawns on a
// connection, and the spoke's agents-watch pushes status changes: GET /agents
// follows the orchestrator without anyone asking for agent.status.
func TestAgentStatusPushedToTheHub(t *testing.T) {
	t.Parallel()
	sim := &orchestrator.Simulator{APIKey: simKey, SpawnDelay: 300 * time.Millisecond, RunTime: 700 * time.Millisecond}
	hub, spoke, conn := agentCluster(t, sim, simKey, nil)
	tok := token(t, "ws-hub")
	var m federation.Message
	call(t, hub, "POST", "/agents/spawn", tok, spawnBody(conn)).decode(t, &m)
	if m = command(t, hub, tok, m.ID); m.Status != federation.MsgCompleted {
		t.Fatalf("spawn %+v", m)
	}
	eventually(t, 20*time.Second, "completed via agent.status.changed", func() bool {
		list := agents(t, hub, tok, conn)
		return len(list) == 1 && list[0].Status == "completed"
	})
	// No agent.status command was sent: only the spawn and the subscription.
	var cmds struct{ Items []federation.Message }
	call(t, hub, "GET", "/commands?direction=OUTBOUND", tok, nil).decode(t, &cmds)
	for _, c := range cmds.Items {
		if c.CommandType == "agent.status" {
			t.Fatal("the hub polled with agent.status")
		}
	}
	var evs struct{ Items []federation.Message }
	call(t, spoke, "GET", "/events/messages?direction=OUTBOUND", token(t, "default"), nil).decode(t, &evs)
	// How many intermediate statuses the watcher sees depends on timing; the
	// final one it always sends.
	sawCompleted := false
	for _, e := range evs.Items {
		sawCompleted = sawCompleted || (e.EventType == "agent.status.changed" && strings.Contains(string(e.Payload), `"completed"`))
	}
	if !sawCompleted {
		t.Fatalf("the spoke sent no agent.status.changed for completed: %+v", evs.Items)
	}
}
