package tests

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/fedgate/fedgate/infra/local"
	"github.com/fedgate/fedgate/shared/config"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/ids"
	"github.com/fedgate/fedgate/shared/queue"
)

// platform stands in for the local platform's API behind the spoke (the
// query and command backends): an external system, so a test double.
type platform struct {
	mu       sync.Mutex
	requests []map[string]any
	srv      *httptest.Server
}

func newPlatform(t *testing.T) *platform {
	p := &platform{}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req map[string]any
		data, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(data, &req)
		p.mu.Lock()
		p.requests = append(p.requests, req)
		p.mu.Unlock()
		switch {
		case req["query"] == "tasks.count":
			_, _ = w.Write([]byte(`{"success":true,"data":{"open":3}}`))
		case req["commandType"] == "task.create":
			_, _ = w.Write([]byte(`{"success":true,"data":{"taskId":"t-9"}}`))
		case req["commandType"] == "task.slow":
			time.Sleep(3 * time.Second)
			_, _ = w.Write([]byte(`{"success":true}`))
		default:
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error":"unknown"}`))
		}
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *platform) count(key, value string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, r := range p.requests {
		if r[key] == value {
			n++
		}
	}
	return n
}

func messagingCluster(t *testing.T, p *platform, tweak func(name string, c *config.Config)) (hubInst, spokeInst *local.Instance, connID string) {
	t.Helper()
	c := clusterWith(t, func(name string, cfg *config.Config) {
		fastRetries(name, cfg)
		if name == "spoke" {
			cfg.QueryBackendURL, cfg.CommandBackendURL = p.srv.URL, p.srv.URL
			cfg.Identity.CommandTypes = append(cfg.Identity.CommandTypes, "task.create", "task.slow")
		}
		if tweak != nil {
			tweak(name, cfg)
		}
	}, "hub", "spoke")
	hub, spoke := c.Instances["hub"], c.Instances["spoke"]
	id := connect(t, hub, spoke, token(t, "ws-hub"), token(t, "default"))
	return hub, spoke, id
}

func TestQueryRoundTrip(t *testing.T) {
	t.Parallel()
	p := newPlatform(t)
	hub, spoke, conn := messagingCluster(t, p, nil)
	hubTok, spokeTok := token(t, "ws-hub"), token(t, "default")
	spokeDoc, _ := spoke.App.Identity.Document(t.Context())

	r := call(t, hub, "POST", "/query", hubTok, map[string]any{"connectionId": conn, "query": "federation.instance"})
	if r.Status != http.StatusOK {
		t.Fatalf("query: %d %s", r.Status, r.Body)
	}
	var m federation.Message
	r.decode(t, &m)
	var data struct{ InstanceID string }
	if m.Response != nil {
		_ = json.Unmarshal(m.Response.Data, &data)
	}
	if m.Status != federation.MsgCompleted || m.Response == nil || !m.Response.Success || data.InstanceID != spokeDoc.InstanceID {
		t.Fatalf("query answer %+v", m)
	}

	// Relayed to the platform's API.
	r = call(t, hub, "POST", "/query", hubTok, map[string]any{"connectionId": conn, "query": "tasks.count", "context": map[string]string{"project": "p1"}})
	r.decode(t, &m)
	if m.Response == nil || string(m.Response.Data) != `{"open":3}` {
		t.Fatalf("relayed query answer %+v", m.Response)
	}
	// Unknown queries are answered with success=false.
	r = call(t, hub, "POST", "/query", hubTok, map[string]any{"connectionId": conn, "query": "nothing.here"})
	r.decode(t, &m)
	if m.Status != federation.MsgCompleted || m.Response.Success {
		t.Fatalf("unknown query answer %+v", m)
	}

	// Credential queries never leave the hub.
	before := p.count("query", "list user_credential")
	for _, q := range []string{"list user_credential", "show API_KEY", "oauth tokens"} {
		r := call(t, hub, "POST", "/query", hubTok, map[string]any{"connectionId": conn, "query": q})
		if r.Status != http.StatusForbidden || r.errorCode(t) != "query_not_allowed" {
			t.Fatalf("query %q: %d %s", q, r.Status, r.Body)
		}
	}
	var hubList, spokeList struct{ Items []federation.Message }
	call(t, hub, "GET", "/queries", hubTok, nil).decode(t, &hubList)
	call(t, spoke, "GET", "/queries?direction=INBOUND", spokeTok, nil).decode(t, &spokeList)
	if len(hubList.Items) != 3 || len(spokeList.Items) != 3 || p.count("query", "list user_credential") != before {
		t.Fatalf("credential queries were stored or sent: hub %d, spoke %d", len(hubList.Items), len(spokeList.Items))
	}
	if hubList.Items[0].Query != "nothing.here" {
		t.Errorf("list is not newest first: %s", hubList.Items[0].Query)
	}
	// The spoke's own copy is readable by id, in its workspace only.
	if r := call(t, spoke, "GET", "/queries/"+spokeList.Items[0].ID, spokeTok, nil); r.Status != 200 {
		t.Errorf("spoke GET query: %d", r.Status)
	}
	if r := call(t, spoke, "GET", "/queries/"+spokeList.Items[0].ID, token(t, "ws-other"), nil); r.Status != 404 {
		t.Errorf("another workspace reads the query: %d", r.Status)
	}
	// Direct credential QUERY to the spoke: refused there too, nothing stored.
	env := envelope(t, hub, spoke, federation.EnvQuery, conn, ids.New(), time.Now(), federation.QueryBody{Query: "password dump"})
	if r := call(t, spoke, "POST", "/incoming/query", "", env); r.Status != 403 || r.errorCode(t) != "query_not_allowed" {
		t.Fatalf("incoming credential query: %d %s", r.Status, r.Body)
	}
}

func TestCommandCompletes(t *testing.T) {
	t.Parallel()
	p := newPlatform(t)
	hub, spoke, conn := messagingCluster(t, p, nil)
	hubTok, spokeTok := token(t, "ws-hub"), token(t, "default")

	r := call(t, hub, "POST", "/command", hubTok, map[string]any{"connectionId": conn, "commandType": "task.create", "payload": map[string]string{"title": "x"}})
	if r.Status != http.StatusAccepted {
		t.Fatalf("command: %d %s", r.Status, r.Body)
	}
	var m federation.Message
	r.decode(t, &m)
	if m.Status != federation.MsgPending {
		t.Fatalf("new command %s", m.Status)
	}
	r = call(t, hub, "GET", "/commands/"+m.ID+"?waitSeconds=20", hubTok, nil)
	r.decode(t, &m)
	if m.Status != federation.MsgCompleted || m.Response == nil || string(m.Response.Data) != `{"taskId":"t-9"}` || m.CompletedAt == nil {
		t.Fatalf("command after wait: %+v", m)
	}
	if p.count("commandType", "task.create") != 1 {
		t.Fatalf("platform executed the command %d times", p.count("commandType", "task.create"))
	}
	var in federation.Message
	call(t, spoke, "GET", "/commands/"+m.ID, spokeTok, nil).decode(t, &in)
	if in.Direction != federation.Inbound || in.Status != federation.MsgCompleted {
		t.Fatalf("spoke's copy %+v", in)
	}

	// A type outside the spoke's allow-list: the spoke answers 403, not retried.
	r = call(t, hub, "POST", "/command", hubTok, map[string]any{"connectionId": conn, "commandType": "task.delete", "payload": map[string]string{}})
	r.decode(t, &m)
	r = call(t, hub, "GET", "/commands/"+m.ID+"?waitSeconds=20", hubTok, nil)
	r.decode(t, &m)
	if m.Status != federation.MsgFailed || !contains([]byte(m.Error), "command_not_allowed") || m.Attempts != 1 {
		t.Fatalf("disallowed command %+v", m)
	}
	// Credential commands are refused before anything is stored.
	if r := call(t, hub, "POST", "/command", hubTok, map[string]any{"connectionId": conn, "commandType": "credentials.read", "payload": map[string]string{}}); r.Status != 403 || r.errorCode(t) != "command_not_allowed" {
		t.Fatalf("credential command: %d %s", r.Status, r.Body)
	}
	// Unknown connection, another workspace's connection → 404.
	if r := call(t, hub, "POST", "/command", token(t, "ws-x"), map[string]any{"connectionId": conn, "commandType": "task.create"}); r.Status != 404 {
		t.Fatalf("another workspace's connection: %d", r.Status)
	}
}

func TestCommandTimesOut(t *testing.T) {
	t.Parallel()
	p := newPlatform(t)
	hub, _, conn := messagingCluster(t, p, func(name string, c *config.Config) {
		if name == "hub" {
			c.CommandTimeout = time.Second
		}
	})
	hubTok := token(t, "ws-hub")
	var m federation.Message
	call(t, hub, "POST", "/command", hubTok, map[string]any{"connectionId": conn, "commandType": "task.slow"}).decode(t, &m)
	eventually(t, 15*time.Second, "TIMEOUT", func() bool {
		call(t, hub, "GET", "/commands/"+m.ID, hubTok, nil).decode(t, &m)
		return m.Status == federation.MsgTimeout
	})
	// The late response does not change a timed-out command.
	time.Sleep(3 * time.Second)
	call(t, hub, "GET", "/commands/"+m.ID, hubTok, nil).decode(t, &m)
	if m.Status != federation.MsgTimeout {
		t.Fatalf("status %s after the late response", m.Status)
	}
}

func TestRetryWhileDownThenDeliveredOnce(t *testing.T) {
	t.Parallel()
	p := newPlatform(t)
	hub, spoke, conn := messagingCluster(t, p, func(name string, c *config.Config) {
		// Waits long enough that a slow moto call cannot blur them: 2, 4, 8 s
		// ceilings (with 0.5 s, a parallel make test once stamped a message
		// 0.4 s after computing its wait).
		c.Retry.BaseDelay, c.Retry.MaxDelay = 2*time.Second, 8*time.Second
	})
	hubTok, spokeTok := token(t, "ws-hub"), token(t, "default")
	spoke.Down()
	var m federation.Message
	call(t, hub, "POST", "/command", hubTok, map[string]any{"connectionId": conn, "commandType": "task.create"}).decode(t, &m)

	policy := hub.App.Config.Retry
	var seen []federation.Message
	eventually(t, 30*time.Second, "three failed attempts", func() bool {
		var cur federation.Message
		call(t, hub, "GET", "/commands/"+m.ID, hubTok, nil).decode(t, &cur)
		if cur.Status == federation.MsgRetrying && (len(seen) == 0 || cur.Attempts != seen[len(seen)-1].Attempts) {
			seen = append(seen, cur)
		}
		return cur.Attempts >= 3
	})
	for _, s := range seen {
		if s.NextAttemptAt == nil {
			t.Fatalf("RETRYING without nextAttemptAt: %+v", s)
		}
		// updatedAt is stamped just after the wait was computed: allow for that.
		wait := s.NextAttemptAt.Sub(s.UpdatedAt)
		if wait < policy.BaseDelay/2 || wait > policy.Ceiling(s.Attempts) {
			t.Errorf("attempt %d waits %s, outside [%s, %s]", s.Attempts, wait, policy.BaseDelay, policy.Ceiling(s.Attempts))
		}
	}
	if err := spoke.Up(); err != nil {
		t.Fatal(err)
	}
	r := call(t, hub, "GET", "/commands/"+m.ID+"?waitSeconds=25", hubTok, nil)
	r.decode(t, &m)
	if m.Status != federation.MsgCompleted {
		t.Fatalf("after the spoke came back: %+v", m)
	}
	var in struct{ Items []federation.Message }
	call(t, spoke, "GET", "/commands?direction=INBOUND", spokeTok, nil).decode(t, &in)
	if len(in.Items) != 1 || p.count("commandType", "task.create") != 1 {
		t.Fatalf("spoke stored %d commands, platform ran %d", len(in.Items), p.count("commandType", "task.create"))
	}
}

func TestDuplicateJobsAndEnvelopes(t *testing.T) {
	t.Parallel()
	p := newPlatform(t)
	hub, spoke, conn := messagingCluster(t, p, nil)
	hubTok, spokeTok := token(t, "ws-hub"), token(t, "default")
	var m federation.Message
	call(t, hub, "POST", "/command", hubTok, map[string]any{"connectionId": conn, "commandType": "task.create"}).decode(t, &m)
	// Inject the delivery job twice more.
	for range 2 {
		if err := hub.App.Jobs.Send(t.Context(), queue.Delivery, queue.Job{WorkspaceID: "ws-hub", MessageID: m.ID}, 0); err != nil {
			t.Fatal(err)
		}
	}
	call(t, hub, "GET", "/commands/"+m.ID+"?waitSeconds=20", hubTok, nil).decode(t, &m)
	if m.Status != federation.MsgCompleted {
		t.Fatalf("command %s", m.Status)
	}
	time.Sleep(time.Second) // let the injected duplicates run
	var in struct{ Items []federation.Message }
	call(t, spoke, "GET", "/commands?direction=INBOUND", spokeTok, nil).decode(t, &in)
	if len(in.Items) != 1 || p.count("commandType", "task.create") != 1 {
		t.Fatalf("duplicates: spoke stored %d, platform ran %d", len(in.Items), p.count("commandType", "task.create"))
	}

	// The same QUERY posted twice is answered twice, run again and signed
	// afresh (it has no effects): the same answer id and data.
	env := envelope(t, hub, spoke, federation.EnvQuery, conn, ids.New(), time.Now(), federation.QueryBody{Query: "federation.instance"})
	first := call(t, spoke, "POST", "/incoming/query", "", env)
	second := call(t, spoke, "POST", "/incoming/query", "", env)
	f, s := members(t, first.Body), members(t, second.Body)
	if first.Status != 200 || second.Status != 200 || string(f["messageId"]) != string(s["messageId"]) ||
		string(f["data"]) != string(s["data"]) || string(f["success"]) != "true" {
		t.Fatalf("answers differ: %d %s / %d %s", first.Status, first.Body, second.Status, second.Body)
	}
	env = envelope(t, hub, spoke, federation.EnvCommand, conn, ids.New(), time.Now(), federation.CommandBody{CommandType: "task.create", Payload: []byte(`{}`)})
	a1 := call(t, spoke, "POST", "/incoming/command", "", env)
	a2 := call(t, spoke, "POST", "/incoming/command", "", env)
	if a1.Status != 202 || string(a1.Body) != string(a2.Body) || a2.Status != 202 {
		t.Fatalf("command answers differ: %d %s / %d %s", a1.Status, a1.Body, a2.Status, a2.Body)
	}
}

func TestRetryBudgetSpentGoesToDLQ(t *testing.T) {
	t.Parallel()
	p := newPlatform(t)
	hub, spoke, conn := messagingCluster(t, p, func(name string, c *config.Config) {
		if name == "hub" {
			c.Retry.MaxAttempts = 2
		}
	})
	hubTok := token(t, "ws-hub")
	spoke.Down()
	var m federation.Message
	call(t, hub, "POST", "/command", hubTok, map[string]any{"connectionId": conn, "commandType": "task.create"}).decode(t, &m)
	eventually(t, 20*time.Second, "FAILED and dead-lettered", func() bool {
		rec, err := hub.App.Store.Messages.Get(t.Context(), "ws-hub", m.ID)
		return err == nil && rec.Status == federation.MsgFailed && rec.DeadLetteredAt != nil
	})
	call(t, hub, "GET", "/commands/"+m.ID, hubTok, nil).decode(t, &m)
	if m.Attempts != 2 || !contains([]byte(m.Error), "retry budget spent") {
		t.Fatalf("failed command %+v", m)
	}
}
