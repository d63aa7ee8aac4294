package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fedgate/fedgate/infra/cli"
	"github.com/fedgate/fedgate/infra/local"
	"github.com/fedgate/fedgate/infra/local/orchestrator"
	"github.com/fedgate/fedgate/shared/config"
	"github.com/fedgate/fedgate/shared/connections"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/identity"
	"github.com/fedgate/fedgate/shared/routes"
	"github.com/fedgate/fedgate/shared/store"
)

// cliRun is one run of the fedgate command.
type cliRun struct {
	code     int
	out, err string
}

func (r cliRun) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.out), v); err != nil {
		t.Fatalf("output is not JSON (%v): %s\nstderr: %s", err, r.out, r.err)
	}
}

// fedgateCLI runs the command against inst as the token's user (through
// FEDGATE_URL and FEDGATE_TOKEN); every answer is checked against the
// OpenAPI document.
func fedgateCLI(t *testing.T, ctx context.Context, inst *local.Instance, tok string, args ...string) cliRun {
	t.Helper()
	env := map[string]string{"FEDGATE_URL": inst.URL, "FEDGATE_TOKEN": tok, "FEDGATE_CONFIG": filepath.Join(t.TempDir(), "none.json")}
	return runCLI(t, ctx, env, args...)
}

func runCLI(t *testing.T, ctx context.Context, env map[string]string, args ...string) cliRun {
	t.Helper()
	var out, errb syncBuffer
	code := cli.Main(ctx, args, cli.Env{
		Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] },
		HTTP: &http.Client{Timeout: 60 * time.Second, Transport: validatingTransport{t: t, base: http.DefaultTransport}},
	})
	return cliRun{code: code, out: out.String(), err: errb.String()}
}

// syncBuffer is a bytes.Buffer safe for a command running in a goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func wantCode(t *testing.T, r cliRun, code int, what string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("%s: exit %d, want %d\nstdout: %s\nstderr: %s", what, r.code, code, r.out, r.err)
	}
}

// Every command of the CLI against live hub and spoke instances, with the
// documented exit codes.
func TestCLI(t *testing.T) {
	t.Parallel()
	sim := &orchestrator.Simulator{APIKey: simKey, MaxConcurrent: 5}
	simSrv := httptest.NewServer(sim)
	t.Cleanup(simSrv.Close)
	c := clusterWith(t, func(name string, cfg *config.Config) {
		fastRetries(name, cfg)
		if name == "spoke" {
			cfg.OrchestratorURL, cfg.OrchestratorAPIKey = simSrv.URL, simKey
		}
	}, "hub", "spoke")
	hub, spoke := c.Instances["hub"], c.Instances["spoke"]
	ctx := t.Context()
	hubTok, teamTok, defaultTok := token(t, "ws-hub"), token(t, "team"), token(t, "default")
	run := func(inst *local.Instance, tok string, args ...string) cliRun {
		t.Helper()
		return fedgateCLI(t, ctx, inst, tok, args...)
	}

	t.Run("instance", func(t *testing.T) {
		r := run(hub, hubTok, "instance", "show")
		wantCode(t, r, cli.ExitOK, "instance show")
		if !strings.Contains(r.out, instanceID(t, hub)) || !strings.Contains(r.out, "current") {
			t.Errorf("instance show: %s", r.out)
		}
		var before identity.Document
		run(hub, hubTok, "instance", "show", "--json").decode(t, &before)
		r = run(hub, hubTok, "instance", "rotate-keys")
		wantCode(t, r, cli.ExitAuth, "rotate-keys without fedgate:instance")
		if !strings.Contains(r.err, "403 forbidden") || !strings.Contains(r.err, "(request ") {
			t.Errorf("the PROTOCOL error with its code and request id: %s", r.err)
		}
		r = run(hub, token(t, "ws-hub", routes.ScopeInstance), "instance", "rotate-keys", "--json")
		wantCode(t, r, cli.ExitOK, "rotate-keys")
		var after identity.Document
		r.decode(t, &after)
		if after.KeyID == before.KeyID || len(after.PublicKeys) != 2 {
			t.Errorf("rotate-keys: key %s → %s, %d keys", before.KeyID, after.KeyID, len(after.PublicKeys))
		}
		r = run(hub, token(t, "ws-hub", routes.ScopeInstance), "instance", "rotate-keys", "--revoke", "--json")
		wantCode(t, r, cli.ExitOK, "rotate-keys --revoke")
		var revoked identity.Document
		r.decode(t, &revoked)
		for _, k := range revoked.PublicKeys {
			if k.KeyID == after.KeyID {
				t.Errorf("rotate-keys --revoke: the revoked key %s is still published", k.KeyID)
			}
		}
		r = run(hub, "not-a-token", "instance", "rotate-keys", "--json")
		wantCode(t, r, cli.ExitAuth, "a bad token")
		if !strings.Contains(r.err, `"code":"unauthenticated"`) {
			t.Errorf("--json error: %s", r.err)
		}
	})

	// The invite handshake: the spoke's team invites, the hub joins.
	var conn string
	t.Run("connections", func(t *testing.T) {
		r := run(spoke, memberToken(t, "team"), "connections", "invite", "--json")
		wantCode(t, r, cli.ExitAuth, "invite without fedgate:admin")
		r = run(spoke, token(t, "team", routes.ScopeAdmin), "connections", "invite", "--expires", "10m", "--json")
		wantCode(t, r, cli.ExitOK, "invite")
		var inv connections.Invite
		r.decode(t, &inv)
		r = run(hub, hubTok, "connections", "initiate", spoke.URL, "--invite", inv.Token, "--json")
		wantCode(t, r, cli.ExitOK, "initiate with invite")
		var cn federation.Connection
		r.decode(t, &cn)
		if cn.Status != federation.StatusActive {
			t.Fatalf("initiate with invite: %s", cn.Status)
		}
		conn = cn.ID
		r = run(hub, hubTok, "connections", "initiate", spoke.URL)
		wantCode(t, r, cli.ExitRefused, "a second live connection to the same origin")
		if !strings.Contains(r.err, "409 conflict") {
			t.Errorf("stderr %s", r.err)
		}
		r = run(hub, hubTok, "connections", "list", "--status", "ACTIVE")
		wantCode(t, r, cli.ExitOK, "list")
		if !strings.Contains(r.out, conn) || !strings.Contains(r.out, "STATUS") {
			t.Errorf("list: %s", r.out)
		}
		wantCode(t, run(hub, hubTok, "connections", "get", conn), cli.ExitOK, "get")
		r = run(hub, hubTok, "connections", "get", "no-such-connection")
		wantCode(t, r, cli.ExitNotFound, "get unknown")
		if !strings.Contains(r.err, "404 not_found") {
			t.Errorf("stderr %s", r.err)
		}

		// Without an invite: PENDING at the spoke, rejected; then another, accepted,
		// suspended, resumed and disconnected.
		var pending federation.Connection
		run(hub, token(t, "ws-2"), "connections", "initiate", spoke.URL, "--json").decode(t, &pending)
		wantCode(t, run(spoke, defaultTok, "connections", "reject", pending.ID), cli.ExitUsage, "reject without --reason")
		wantCode(t, run(spoke, defaultTok, "connections", "reject", pending.ID, "--reason", "unknown to us"), cli.ExitOK, "reject")
		run(hub, token(t, "ws-3"), "connections", "initiate", spoke.URL, "--json").decode(t, &pending)
		r = run(spoke, defaultTok, "connections", "list", "--status", "PENDING", "--json")
		if !strings.Contains(r.out, pending.ID) {
			t.Fatalf("pending at the spoke: %s", r.out)
		}
		wantCode(t, run(spoke, defaultTok, "connections", "accept", pending.ID, "--metadata", `{"team":"ops"}`), cli.ExitOK, "accept")
		for _, verb := range []string{"suspend", "resume", "disconnect"} {
			r = run(spoke, defaultTok, "connections", verb, pending.ID, "--json")
			wantCode(t, r, cli.ExitOK, verb)
		}
		var done federation.Connection
		r.decode(t, &done)
		if done.Status != federation.StatusDisconnected {
			t.Errorf("after disconnect: %s", done.Status)
		}
		wantCode(t, run(spoke, defaultTok, "connections", "resume", pending.ID), cli.ExitRefused, "resume a DISCONNECTED connection")
	})
	if conn == "" {
		t.Fatal("no connection")
	}

	// Events: the spoke's team subscribes on the hub, the hub publishes.
	var delivery string
	t.Run("events", func(t *testing.T) {
		wantCode(t, run(spoke, teamTok, "subscriptions", "subscribe", conn, "task.*"), cli.ExitOK, "subscribe")
		eventually(t, 15*time.Second, "the hub stores the spoke's subscription", func() bool {
			r := run(hub, hubTok, "subscriptions", "list", "--connection", conn)
			return strings.Contains(r.out, "task.*") && strings.Contains(r.out, "INBOUND")
		})
		r := run(hub, hubTok, "publish", "task.created", `{"taskId":"t1"}`, "--json")
		wantCode(t, r, cli.ExitOK, "publish")
		var pub struct{ EventID string }
		r.decode(t, &pub)
		var list struct{ Items []federation.Message }
		eventually(t, 15*time.Second, "the delivery", func() bool {
			run(hub, hubTok, "messages", "list", "--direction", "OUTBOUND", "--json").decode(t, &list)
			return len(list.Items) > 0
		})
		delivery = list.Items[0].ID
		r = run(hub, hubTok, "messages", "get", delivery, "--wait", "20s")
		wantCode(t, r, cli.ExitOK, "messages get --wait")
		if !strings.Contains(r.out, "DELIVERED") {
			t.Errorf("messages get: %s", r.out)
		}
		wantCode(t, run(spoke, teamTok, "messages", "list", "--direction", "INBOUND"), cli.ExitOK, "inbound list")
		wantCode(t, run(hub, hubTok, "messages", "get", "nope"), cli.ExitNotFound, "get unknown message")

		// tail -f follows new messages until interrupted.
		tailCtx, stop := context.WithCancel(ctx)
		var tail cliRun
		done := make(chan struct{})
		go func() {
			defer close(done)
			tail = fedgateCLI(t, tailCtx, spoke, teamTok, "messages", "tail", "-f", "--interval", "200ms", "--direction", "INBOUND")
		}()
		time.Sleep(500 * time.Millisecond)
		wantCode(t, run(hub, hubTok, "publish", "task.tailed"), cli.ExitOK, "publish")
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) {
			r := run(spoke, teamTok, "messages", "list", "--direction", "INBOUND")
			if strings.Contains(r.out, "task.tailed") {
				time.Sleep(600 * time.Millisecond) // one more tail interval
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		stop()
		<-done
		wantCode(t, tail, cli.ExitOK, "tail -f, interrupted")
		if !strings.Contains(tail.out, "task.created") || !strings.Contains(tail.out, "task.tailed") {
			t.Errorf("tail -f printed:\n%s", tail.out)
		}

		r = run(hub, hubTok, "redeliver", delivery, "--wait", "20s", "--json")
		wantCode(t, r, cli.ExitOK, "redeliver --wait")
		var again federation.Message
		r.decode(t, &again)
		if again.ID == delivery || again.Status != federation.MsgDelivered {
			t.Errorf("redelivered: %s %s", again.ID, again.Status)
		}

		r = run(hub, hubTok, "replay", conn, "--since", "10m", "--interval", "200ms")
		wantCode(t, r, cli.ExitOK, "replay")
		if !strings.Contains(r.err, "replay [") || !strings.Contains(r.out, "delivered:") {
			t.Errorf("replay progress:\nstdout %s\nstderr %s", r.out, r.err)
		}
		var rp map[string]int
		run(hub, hubTok, "replay", conn, "--since", "10m", "--interval", "200ms", "--json").decode(t, &rp)
		if rp["deliveries"] < 2 || rp["delivered"] != rp["deliveries"] {
			t.Errorf("replay --json: %v", rp)
		}
		wantCode(t, run(hub, hubTok, "replay", conn), cli.ExitUsage, "replay without --since")

		wantCode(t, run(spoke, teamTok, "subscriptions", "unsubscribe", conn, "task.*"), cli.ExitOK, "unsubscribe")
	})

	t.Run("attempts", func(t *testing.T) {
		r := run(hub, hubTok, "messages", "attempts", delivery)
		wantCode(t, r, cli.ExitOK, "messages attempts")
		if !strings.Contains(r.out, "ATTEMPT") || !strings.Contains(r.out, "delivered") {
			t.Errorf("attempts: %s", r.out)
		}
		var page store.Page[federation.Attempt]
		run(hub, hubTok, "messages", "attempts", delivery, "--json", "--all").decode(t, &page)
		if len(page.Items) == 0 || page.Items[0].Attempt != 1 || page.Items[0].Outcome != federation.AttemptDelivered {
			t.Errorf("attempts --json: %+v", page.Items)
		}
		wantCode(t, run(hub, teamTok, "messages", "attempts", delivery), cli.ExitNotFound, "another workspace's delivery")
	})

	t.Run("operations", func(t *testing.T) {
		// The instance subtest rotated the hub's keys: an instance-wide event.
		r := run(hub, token(t, "ws-hub", routes.ScopeInstance), "operations", "--instance")
		wantCode(t, r, cli.ExitOK, "operations --instance")
		if !strings.Contains(r.out, federation.OpKeyRotated) {
			t.Errorf("operations --instance: %s", r.out)
		}
		wantCode(t, run(hub, token(t, "ws-hub", routes.ScopeAdmin), "operations"), cli.ExitOK, "operations")
		wantCode(t, run(hub, token(t, "ws-hub", routes.ScopeAdmin), "operations", "--instance"), cli.ExitAuth, "operations --instance without fedgate:instance")
		wantCode(t, run(hub, memberToken(t, "ws-hub"), "operations"), cli.ExitAuth, "operations without fedgate:admin")
	})

	t.Run("queries and commands", func(t *testing.T) {
		r := run(hub, hubTok, "queries", "send", conn, "federation.instance", "--json")
		wantCode(t, r, cli.ExitOK, "queries send")
		var q federation.Message
		r.decode(t, &q)
		if q.Response == nil || !q.Response.Success {
			t.Errorf("query: %s", r.out)
		}
		wantCode(t, run(hub, hubTok, "queries", "send", conn, "the password"), cli.ExitAuth, "a credential query")
		wantCode(t, run(hub, hubTok, "queries", "list"), cli.ExitOK, "queries list")
		wantCode(t, run(hub, hubTok, "queries", "get", q.ID), cli.ExitOK, "queries get")

		r = run(hub, hubTok, "commands", "send", conn, "agent.status", `{"agentId":"nobody"}`, "--wait", "20s")
		wantCode(t, r, cli.ExitError, "a command the peer answers success=false")
		if !strings.Contains(r.out, "FAILED") || !strings.Contains(r.err, "success=false") {
			t.Errorf("commands send:\n%s\n%s", r.out, r.err)
		}
		r = run(hub, hubTok, "commands", "list", "--json")
		var cmds struct{ Items []federation.Message }
		r.decode(t, &cmds)
		if len(cmds.Items) == 0 {
			t.Fatal("commands list is empty")
		}
		wantCode(t, run(hub, hubTok, "commands", "get", cmds.Items[0].ID, "--wait", "5s"), cli.ExitOK, "commands get")
	})

	t.Run("agents", func(t *testing.T) {
		r := run(hub, hubTok, "agents", "spawn", conn, "--task", "t-9", "--repository", "git@example.org:a/b.git", "--item", "fix it",
			"--priority", "3", "--wait", "20s", "--json")
		wantCode(t, r, cli.ExitOK, "agents spawn")
		var m federation.Message
		r.decode(t, &m)
		var data struct{ AgentID string }
		if m.Response == nil || json.Unmarshal(m.Response.Data, &data) != nil || data.AgentID == "" {
			t.Fatalf("spawn: %s", r.out)
		}
		eventually(t, 15*time.Second, "the agent listed", func() bool {
			return strings.Contains(run(hub, hubTok, "agents", "list", "--connection", conn).out, data.AgentID)
		})
		wantCode(t, run(hub, hubTok, "agents", "get", data.AgentID, "--connection", conn), cli.ExitOK, "agents get")
		wantCode(t, run(hub, hubTok, "agents", "kill", data.AgentID, "--connection", conn, "--wait", "20s"), cli.ExitOK, "agents kill")
		wantCode(t, run(hub, hubTok, "agents", "get", data.AgentID), cli.ExitUsage, "agents get without --connection")
	})

	t.Run("conformance", func(t *testing.T) {
		r := runCLI(t, ctx, nil, "conformance", "--target", spoke.URL, "--token", token(t, "conformance-cli", routes.ScopeAdmin), "--dev", "--json")
		wantCode(t, r, cli.ExitOK, "conformance")
		var rep struct{ Passed, Failed int }
		r.decode(t, &rep)
		if rep.Failed != 0 || rep.Passed < 40 {
			t.Errorf("conformance: %+v", rep)
		}
		wantCode(t, runCLI(t, ctx, nil, "conformance", "--target", spoke.URL, "--token", "x"), cli.ExitUsage, "a dev target without --dev")
	})

	t.Run("profiles, dev tokens and usage", func(t *testing.T) {
		dir := t.TempDir()
		env := map[string]string{"FEDGATE_CONFIG": filepath.Join(dir, "config.json")}
		r := runCLI(t, ctx, env, "dev", "token", "--state", dir, "--workspace", "ws-hub", "--scope", "fedgate:admin fedgate:instance")
		wantCode(t, r, cli.ExitOK, "dev token")
		if strings.Count(strings.TrimSpace(r.out), ".") != 2 {
			t.Fatalf("dev token: %q", r.out)
		}
		wantCode(t, runCLI(t, ctx, env, "profile", "set", "hub", "--url", hub.URL, "--token", hubTok), cli.ExitOK, "profile set")
		if st, err := os.Stat(env["FEDGATE_CONFIG"]); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("profile file: %v %v", st, err)
		}
		// An explicit --profile beats FEDGATE_URL.
		withURL := map[string]string{"FEDGATE_CONFIG": env["FEDGATE_CONFIG"], "FEDGATE_URL": "http://127.0.0.1:1"}
		r = runCLI(t, ctx, withURL, "--profile", "hub", "connections", "list")
		wantCode(t, r, cli.ExitOK, "a profile")
		if !strings.Contains(r.out, conn) {
			t.Errorf("profile hub: %s", r.out)
		}
		wantCode(t, runCLI(t, ctx, env, "profile", "list"), cli.ExitOK, "profile list")
		wantCode(t, runCLI(t, ctx, env, "--profile", "nope", "instance", "show"), cli.ExitUsage, "an unknown profile")
		wantCode(t, runCLI(t, ctx, map[string]string{"FEDGATE_CONFIG": filepath.Join(dir, "none")}, "instance", "show"), cli.ExitUsage, "no instance")
		wantCode(t, runCLI(t, ctx, env, "--url", hub.URL, "instance", "show", "--bogus"), cli.ExitUsage, "an unknown flag")
		wantCode(t, runCLI(t, ctx, env, "no-such-command"), cli.ExitUsage, "an unknown command")
		r = runCLI(t, ctx, env, "--url", "http://127.0.0.1:1", "instance", "show")
		wantCode(t, r, cli.ExitError, "an unreachable instance")
		wantCode(t, runCLI(t, ctx, env, "--help"), cli.ExitOK, "--help")
	})
}
