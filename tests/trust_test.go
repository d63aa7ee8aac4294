package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fedgate/fedgate/infra/local/orchestrator"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/ids"
	"github.com/fedgate/fedgate/shared/routes"
)

// Envelopes name their recipient: a CONNECT the hub sent to Mallory cannot
// be forwarded to the spoke, and an envelope naming no recipient is refused.
func TestForwardedConnectAndMissingRecipient(t *testing.T) {
	t.Parallel()
	c := clusterWith(t, fastRetries, "hub", "spoke")
	hub, spoke := c.Instances["hub"], c.Instances["spoke"]
	mallory := newHostilePeer(t)
	hubTok, spokeTok := token(t, "ws-hub"), token(t, "default")

	// The hub connects to Mallory, who keeps the hub's signed CONNECT …
	if r := call(t, hub, "POST", "/connections/initiate", hubTok, map[string]string{"remoteUrl": mallory.srv.URL}); r.Status != http.StatusCreated {
		t.Fatalf("initiate to mallory: %d %s", r.Status, r.Body)
	}
	connects := mallory.got("/incoming/connect")
	if len(connects) != 1 {
		t.Fatalf("mallory received %d CONNECTs", len(connects))
	}
	// … and forwards it to the spoke, which it is not addressed to.
	wantRefused(t, "forwarded CONNECT", mallory.post(spoke, "/connect", connects[0]), 401, "wrong_recipient")
	if n := countItems(t, spoke, "/connections", spokeTok); n != 0 {
		t.Fatalf("the forwarded CONNECT stored %d connections", n)
	}

	conn := mallory.joinWithInvite(spoke, "ws-m")
	query := mallory.envelope("QUERY", conn, instanceID(t, spoke), map[string]any{"query": "federation.instance"})
	delete(query, "toInstanceId")
	wantRefused(t, "no recipient", mallory.post(spoke, "/query", mallory.sign(query, nil)), 400, "validation_failed")
	query = mallory.envelope("QUERY", conn, instanceID(t, hub), map[string]any{"query": "federation.instance"})
	wantRefused(t, "another recipient", mallory.post(spoke, "/query", mallory.sign(query, nil)), 401, "wrong_recipient")
	if n := countItems(t, spoke, "/queries", token(t, "ws-m")); n != 0 {
		t.Fatalf("refused queries stored %d messages", n)
	}
}

// A peer of another connection and workspace cannot read or kill an agent
// the spoke runs for the hub, not even by reusing the hub's spawn messageId.
func TestAgentsBelongToTheirConnection(t *testing.T) {
	t.Parallel()
	sim := &orchestrator.Simulator{APIKey: simKey, MaxConcurrent: 5, SpawnDelay: 200 * time.Millisecond, RunTime: time.Minute}
	hub, spoke, conn := agentCluster(t, sim, simKey, nil)
	hubTok := token(t, "ws-hub")
	r := call(t, hub, "POST", "/agents/spawn", hubTok, spawnBody(conn))
	var spawn federation.Message
	r.decode(t, &spawn)
	if m := command(t, hub, hubTok, spawn.ID); m.Status != federation.MsgCompleted {
		t.Fatalf("hub's spawn: %+v", m)
	}
	agentID := agents(t, hub, hubTok, conn)[0].AgentID

	mallory := newHostilePeer(t)
	mconn := mallory.joinWithInvite(spoke, "ws-m")
	spokeID := instanceID(t, spoke)
	send := func(commandType string, payload map[string]any, messageID string) {
		env := mallory.envelope("COMMAND", mconn, spokeID, map[string]any{"commandType": commandType, "payload": payload})
		if messageID != "" {
			env["messageId"] = messageID
		}
		if r := mallory.post(spoke, "/command", mallory.sign(env, nil)); r.Status != http.StatusAccepted {
			t.Fatalf("%s: %d %s", commandType, r.Status, r.Body)
		}
	}
	send("agent.kill", map[string]any{"agentId": agentID}, "")
	send("agent.status", map[string]any{"agentId": agentID}, "")
	send("agent.spawn", map[string]any{"taskId": "t", "agentType": "worker",
		"context": map[string]any{"repository": "r", "branch": "b", "workItems": []string{"w"}}}, spawn.ID)
	var answers []map[string]any
	eventually(t, 20*time.Second, "three COMMAND_RESPONSEs at mallory", func() bool {
		answers = nil
		for _, raw := range mallory.got("/incoming/command/response") {
			if !mallory.verifiedFrom(spoke, raw) {
				t.Fatalf("a COMMAND_RESPONSE that does not verify: %s", raw)
			}
			var a map[string]any
			_ = json.Unmarshal(raw, &a)
			answers = append(answers, a)
		}
		return len(answers) >= 3
	})
	notFound, spawned := 0, ""
	for _, a := range answers {
		switch {
		case a["success"] == false && a["error"] == "not_found":
			notFound++
		case a["success"] == true:
			spawned = a["data"].(map[string]any)["agentId"].(string)
		}
	}
	if notFound != 2 {
		t.Fatalf("answers %v: want agent.kill and agent.status answered not_found", answers)
	}
	if spawned == "" || spawned == agentID {
		t.Fatalf("a spawn reusing the hub's messageId got agent %q (the hub's is %s)", spawned, agentID)
	}
	if st := sim.Status(agentID); st == "killed" {
		t.Fatal("the hub's agent was killed by another connection's peer")
	}
}

// Credentials never cross, however a query spells them; numbers that
// cannot be signed faithfully are refused where they enter.
func TestDenyListAndNumbers(t *testing.T) {
	t.Parallel()
	c := clusterWith(t, fastRetries, "hub", "spoke")
	hub, spoke := c.Instances["hub"], c.Instances["spoke"]
	hubTok := token(t, "ws-hub")
	conn := connect(t, hub, spoke, hubTok, token(t, "default"))
	for _, q := range []struct{ query, context string }{
		{"get apikey", ""}, {"get api-key", ""}, {"show passwd", ""}, {"the private_key", ""},
		{"ｔｏｋｅｎ list", ""}, {"pass\u200bword reset", ""}, {"tasks.count", `{"field":"secret"}`},
		{"tasks.count", `{"filter":{"name":"Session-ID"}}`},
	} {
		body := map[string]any{"connectionId": conn, "query": q.query}
		if q.context != "" {
			body["context"] = rawJSON(q.context)
		}
		wantRefused(t, "query "+q.query+" "+q.context, call(t, hub, "POST", "/query", hubTok, body), 403, "query_not_allowed")
	}
	if n := countItems(t, hub, "/queries", hubTok); n != 0 {
		t.Fatalf("refused queries stored %d messages", n)
	}

	for _, payload := range []string{`{"n":9007199254740993}`, `{"n":1e400}`, `{"list":[1,-9007199254740993]}`,
		`{"n":9007199254740993.0}`, `{"n":9.007199254740993e15}`} {
		wantRefused(t, "publish "+payload, call(t, hub, "POST", "/events/publish", hubTok, `{"eventType":"task.created","payload":`+payload+`}`), 400, "validation_failed")
	}
	// The same numbers in a signed envelope from a peer.
	mallory := newHostilePeer(t)
	mconn := mallory.joinWithInvite(spoke, "ws-m")
	for _, members := range []string{`{"eventType":"task.created","payload":{"n":9007199254740993}}`, `{"query":"tasks.count","context":{"n":1e400}}`} {
		var m map[string]any
		dec := json.NewDecoder(strings.NewReader(members))
		dec.UseNumber()
		_ = dec.Decode(&m)
		typ, path := "EVENT", "/event"
		if _, ok := m["query"]; ok {
			typ, path = "QUERY", "/query"
		}
		wantRefused(t, "envelope "+members, mallory.post(spoke, path, mallory.sign(mallory.envelope(typ, mconn, instanceID(t, spoke), m), nil)), 400, "validation_failed")
	}
	ctxQuery := mallory.envelope("QUERY", mconn, instanceID(t, spoke), map[string]any{"query": "tasks.count", "context": map[string]any{"x": "API_KEY"}})
	wantRefused(t, "peer's credential query", mallory.post(spoke, "/query", mallory.sign(ctxQuery, nil)), 403, "query_not_allowed")
	mtok := token(t, "ws-m")
	if n := countItems(t, spoke, "/events/messages", mtok) + countItems(t, spoke, "/queries", mtok); n != 0 {
		t.Fatalf("refused envelopes stored %d messages", n)
	}
}

// A peer is bounded in what it can make this instance store: its identity
// document, the CONNECTs it repeats or collides with, its subscriptions.
func TestConnectBoundsAndCollisions(t *testing.T) {
	t.Parallel()
	c := clusterWith(t, fastRetries, "hub", "spoke")
	hub, spoke := c.Instances["hub"], c.Instances["spoke"]
	spokeTok := token(t, "default")
	spokeID := instanceID(t, spoke)

	huge := newHostilePeer(t)
	huge.extraDoc = map[string]any{"metadata": map[string]any{"pad": strings.Repeat("x", 160*1024)}}
	env := huge.sign(huge.envelope("CONNECT", ids.New(), spokeID, huge.connectBody("")), nil)
	wantRefused(t, "CONNECT from a 160 KiB identity", huge.post(spoke, "/connect", env), 400, "validation_failed")
	wantRefused(t, "initiate to a 160 KiB identity", call(t, hub, "POST", "/connections/initiate", token(t, "ws-hub"), map[string]string{"remoteUrl": huge.srv.URL}), 400, "validation_failed")
	if n := countItems(t, spoke, "/connections", spokeTok) + countItems(t, hub, "/connections", token(t, "ws-hub")); n != 0 {
		t.Fatalf("a huge identity stored %d connections", n)
	}

	mallory := newHostilePeer(t)
	first := mallory.envelope("CONNECT", ids.New(), spokeID, mallory.connectBody(""))
	raw := mallory.sign(first, nil)
	r1, r2 := mallory.post(spoke, "/connect", raw), mallory.post(spoke, "/connect", raw)
	if r1.Status != http.StatusAccepted || r2.Status != r1.Status || string(r2.Body) != string(r1.Body) {
		t.Fatalf("the same CONNECT twice: %d %s / %d %s", r1.Status, r1.Body, r2.Status, r2.Body)
	}
	// The same connection id in a new CONNECT, and a second live connection
	// from the same origin: 409 that names no connection.
	again := mallory.envelope("CONNECT", first["connectionId"].(string), spokeID, mallory.connectBody(""))
	second := mallory.envelope("CONNECT", ids.New(), spokeID, mallory.connectBody(""))
	for what, env := range map[string]map[string]any{"a reused connection id": again, "a second connection from the origin": second} {
		r := mallory.post(spoke, "/connect", mallory.sign(env, nil))
		wantRefused(t, what, r, 409, "conflict")
		if strings.Contains(string(r.Body), first["connectionId"].(string)) {
			t.Fatalf("%s: the 409 names the existing connection: %s", what, r.Body)
		}
	}
	if n := countItems(t, spoke, "/connections", spokeTok); n != 1 {
		t.Fatalf("%d connections after the collisions, want the first only", n)
	}
}

// A peer that withdraws a key, or whose retired key expired, cannot sign
// with it any more; one that rotates is still understood at once, even
// when its first message under the new key is an EVENT_ACK.
func TestPeerKeys(t *testing.T) {
	t.Parallel()
	c := clusterWith(t, fastRetries, "hub")
	hub := c.Instances["hub"]
	hubTok := token(t, "ws-m")
	mallory := newHostilePeer(t)
	conn := mallory.joinWithInvite(hub, "ws-m")
	hubID := instanceID(t, hub)
	k0 := mallory.keys[0]

	// Mallory subscribes to the hub's events (COMMAND event.subscribe).
	sub := mallory.envelope("COMMAND", conn, hubID, map[string]any{"commandType": "event.subscribe", "payload": map[string]any{"eventType": "task.*"}})
	if r := mallory.post(hub, "/command", mallory.sign(sub, nil)); r.Status != http.StatusAccepted {
		t.Fatalf("event.subscribe: %d %s", r.Status, r.Body)
	}
	eventually(t, 15*time.Second, "the hub holds mallory's subscription", func() bool {
		var page struct{ Items []federation.Subscription }
		call(t, hub, "GET", "/events/subscriptions", hubTok, nil).decode(t, &page)
		return len(page.Items) == 1 && page.Items[0].IsActive
	})

	// Mallory rotates and answers the next EVENT with an EVENT_ACK under the
	// new key, which the hub has never seen.
	k1 := mallory.rotate()
	mallory.answer = func(path string, body []byte) (int, []byte) {
		var ev map[string]any
		_ = json.Unmarshal(body, &ev)
		if path != "/incoming/event" {
			return http.StatusAccepted, []byte(`{}`)
		}
		ack := mallory.envelope("EVENT_ACK", conn, hubID, map[string]any{"correlationId": ev["messageId"], "received": true})
		return http.StatusOK, mallory.sign(ack, k1)
	}
	var published struct{ EventID string }
	call(t, hub, "POST", "/events/publish", hubTok, map[string]any{"eventType": "task.created", "payload": map[string]any{"n": 1}}).decode(t, &published)
	eventually(t, 20*time.Second, "the delivery DELIVERED on an ACK under the new key", func() bool {
		var page struct{ Items []federation.Message }
		call(t, hub, "GET", "/events/messages?direction=OUTBOUND", hubTok, nil).decode(t, &page)
		return len(page.Items) == 1 && page.Items[0].Status == federation.MsgDelivered && page.Items[0].Attempts == 1
	})

	// Withdrawn: k0 is no longer published; expired: a retired key past its expiresAt.
	k2 := mallory.rotate()
	past := time.Now().Add(-time.Hour)
	mallory.mu.Lock()
	k0.withdrawn, k1.expiresAt = true, &past
	mallory.mu.Unlock()
	query := func(key *peerKey) response {
		return mallory.post(hub, "/query", mallory.sign(mallory.envelope("QUERY", conn, hubID, map[string]any{"query": "federation.instance"}), key))
	}
	// The hub fetches the keys again on the unknown key (at most once per
	// refetch period, which the test shortens to 200 ms).
	eventually(t, 5*time.Second, "a query under the newest key answered", func() bool {
		r := query(k2)
		return r.Status == http.StatusOK
	})
	wantRefused(t, "a withdrawn key", query(k0), 401, "unknown_key")
	wantRefused(t, "an expired retired key", query(k1), 401, "unknown_key")
	if n := countItems(t, hub, "/queries", hubTok); n != 1 {
		t.Fatalf("%d queries stored, want only the one under a valid key", n)
	}
}

// A connection holds at most 100 active subscriptions in each direction.
func TestSubscriptionLimit(t *testing.T) {
	t.Parallel()
	c := clusterWith(t, fastRetries, "hub")
	hub := c.Instances["hub"]
	mallory := newHostilePeer(t)
	conn := mallory.joinWithInvite(hub, "ws-m")
	tok := token(t, "ws-m")
	for i := range 100 {
		r := call(t, hub, "POST", "/events/subscribe", tok, map[string]string{"connectionId": conn, "eventType": fmt.Sprintf("task.t%d", i)})
		if r.Status != http.StatusCreated {
			t.Fatalf("subscription %d: %d %s", i+1, r.Status, r.Body)
		}
	}
	r := call(t, hub, "POST", "/events/subscribe", tok, map[string]string{"connectionId": conn, "eventType": "task.one_more"})
	wantRefused(t, "the 101st subscription", r, 403, "limit_exceeded")
	var page struct{ Items []federation.Subscription }
	call(t, hub, "GET", "/events/subscriptions?limit=100&connectionId="+conn, tok, nil).decode(t, &page)
	if len(page.Items) != 100 {
		t.Fatalf("%d subscriptions stored, want 100", len(page.Items))
	}
}

// A peer's DISCONNECT reaches a connection suspended here: the two sides
// never stay out of step.
func TestDisconnectWhileSuspended(t *testing.T) {
	t.Parallel()
	c := clusterWith(t, fastRetries, "hub", "spoke")
	hub, spoke := c.Instances["hub"], c.Instances["spoke"]
	hubTok, spokeTok := token(t, "ws-hub"), token(t, "default")
	conn := connect(t, hub, spoke, hubTok, spokeTok)
	if r := call(t, spoke, "POST", "/connections/"+conn+"/suspend", spokeTok, nil); r.Status != http.StatusOK {
		t.Fatalf("suspend: %d %s", r.Status, r.Body)
	}
	if r := call(t, hub, "POST", "/connections/"+conn+"/disconnect", hubTok, nil); r.Status != http.StatusOK {
		t.Fatalf("disconnect: %d %s", r.Status, r.Body)
	}
	eventually(t, 15*time.Second, "the suspended side DISCONNECTED", func() bool {
		return connection(t, spoke, spokeTok, conn).Status == federation.StatusDisconnected
	})
}

var _ = routes.BasePath
