package tests

import (
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fedgate/fedgate/infra/local"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/ids"
	"github.com/fedgate/fedgate/shared/store"
)

// activeSubs is a side's active subscriptions on a connection in one direction.
func activeSubs(t *testing.T, inst *local.Instance, tok, conn, direction string) []federation.Subscription {
	t.Helper()
	var page struct{ Items []federation.Subscription }
	call(t, inst, "GET", "/events/subscriptions?limit=100&connectionId="+conn, tok, nil).decode(t, &page)
	var out []federation.Subscription
	for _, s := range page.Items {
		if s.Direction == direction && s.IsActive {
			out = append(out, s)
		}
	}
	return out
}

func typesOf(subs []federation.Subscription) []string {
	var out []string
	for _, s := range subs {
		out = append(out, s.EventType)
	}
	slices.Sort(out)
	return out
}

// inboundSeqs counts the events a side received, by payload seq.
func inboundSeqs(t *testing.T, inst *local.Instance, tok string) map[int]int {
	t.Helper()
	var page struct{ Items []federation.Message }
	call(t, inst, "GET", "/events/messages?direction=INBOUND&limit=100", tok, nil).decode(t, &page)
	seqs := map[int]int{}
	for _, m := range page.Items {
		var p struct{ Seq int }
		if json.Unmarshal(m.Payload, &p) == nil && m.Status == federation.MsgDelivered {
			seqs[p.Seq]++
		}
	}
	return seqs
}

// A subscription made while the publisher is down reaches it when it comes
// back (the command is retried, never TIMEOUT) and shows syncedAt; after a
// suspension and resume, event.sync makes the publisher's set equal to the
// subscriber's, whatever it held meanwhile.
func TestSubscriptionsConverge(t *testing.T) {
	t.Parallel()
	c := clusterWith(t, fastRetries, "hub", "spoke")
	hub, spoke := c.Instances["hub"], c.Instances["spoke"]
	hubTok, spokeTok := token(t, "ws-hub"), token(t, "default")
	conn := connect(t, hub, spoke, hubTok, spokeTok)

	hub.Down()
	if r := call(t, spoke, "POST", "/events/subscribe", spokeTok, map[string]string{"connectionId": conn, "eventType": "task.*"}); r.Status != http.StatusCreated {
		t.Fatalf("subscribe: %d %s", r.Status, r.Body)
	}
	if r := call(t, spoke, "POST", "/events/subscribe", spokeTok, map[string]string{"connectionId": conn, "eventType": "project.created"}); r.Status != http.StatusCreated {
		t.Fatalf("subscribe: %d %s", r.Status, r.Body)
	}
	time.Sleep(2 * time.Second) // the publisher stays away for a while: the commands keep retrying
	if subs := activeSubs(t, spoke, spokeTok, conn, federation.Outbound); len(subs) != 2 || subs[0].SyncedAt != nil {
		t.Fatalf("before the publisher answered: %+v", subs)
	}
	if err := hub.Up(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the publisher holding both subscriptions and the subscriber seeing syncedAt", func() bool {
		mine := activeSubs(t, spoke, spokeTok, conn, federation.Outbound)
		return slices.Equal(typesOf(activeSubs(t, hub, hubTok, conn, federation.Inbound)), []string{"project.created", "task.*"}) &&
			len(mine) == 2 && mine[0].SyncedAt != nil && mine[1].SyncedAt != nil
	})
	var cmds struct{ Items []federation.Message }
	call(t, spoke, "GET", "/commands?direction=OUTBOUND", spokeTok, nil).decode(t, &cmds)
	for _, m := range cmds.Items {
		if m.Status == federation.MsgTimeout {
			t.Fatalf("a subscription command timed out: %+v", m)
		}
	}

	// The publisher's set drifts (a lost unsubscribe, a stale extra).
	ctx := t.Context()
	if _, err := hub.App.Store.Subscriptions.Set(ctx, store.SubscriptionChange{Workspace: "ws-hub", ConnectionID: conn, Direction: federation.Inbound, EventType: "task.*", Active: false}); err != nil {
		t.Fatal(err)
	}
	if _, err := hub.App.Store.Subscriptions.Set(ctx, store.SubscriptionChange{Workspace: "ws-hub", ConnectionID: conn, Direction: federation.Inbound, EventType: "user.deleted", Active: true}); err != nil {
		t.Fatal(err)
	}
	for _, action := range []string{"suspend", "resume"} {
		if r := call(t, spoke, "POST", "/connections/"+conn+"/"+action, spokeTok, nil); r.Status != http.StatusOK {
			t.Fatalf("%s: %d %s", action, r.Status, r.Body)
		}
	}
	eventually(t, 20*time.Second, "event.sync making the publisher's set equal", func() bool {
		return slices.Equal(typesOf(activeSubs(t, hub, hubTok, conn, federation.Inbound)), []string{"project.created", "task.*"})
	})
}

// Events published while a connection is SUSPENDED reach the peer after
// resume, each exactly once; an event published before the subscription
// reached the publisher is recovered by replay from the event log.
func TestCatchUpAndReplay(t *testing.T) {
	t.Parallel()
	c := clusterWith(t, fastRetries, "hub", "spoke")
	hub, spoke := c.Instances["hub"], c.Instances["spoke"]
	hubTok, spokeTok := token(t, "ws-hub"), token(t, "default")
	conn := connect(t, hub, spoke, hubTok, spokeTok)
	start := time.Now().UTC().Add(-time.Second)

	publish(t, hub, hubTok, "task.created", map[string]int{"seq": 0}) // before any subscription
	subscribe(t, hub, spoke, hubTok, spokeTok, conn, "task.*")
	publish(t, hub, hubTok, "task.created", map[string]int{"seq": 1})
	eventually(t, 20*time.Second, "seq 1 at the spoke", func() bool { return inboundSeqs(t, spoke, spokeTok)[1] == 1 })

	if r := call(t, hub, "POST", "/connections/"+conn+"/suspend", hubTok, nil); r.Status != http.StatusOK {
		t.Fatalf("suspend: %d", r.Status)
	}
	for seq := 2; seq <= 4; seq++ {
		publish(t, hub, hubTok, "task.created", map[string]int{"seq": seq})
	}
	time.Sleep(2 * time.Second)
	if got := inboundSeqs(t, spoke, spokeTok); len(got) != 1 {
		t.Fatalf("a SUSPENDED connection received %v", got)
	}
	if r := call(t, hub, "POST", "/connections/"+conn+"/resume", hubTok, nil); r.Status != http.StatusOK {
		t.Fatalf("resume: %d", r.Status)
	}
	eventually(t, 30*time.Second, "the events of the suspension caught up", func() bool {
		got := inboundSeqs(t, spoke, spokeTok)
		return got[2] == 1 && got[3] == 1 && got[4] == 1
	})

	// seq 0 never reached the spoke: a replay from the event log recovers it.
	var replayed struct{ Deliveries int }
	r := call(t, hub, "POST", "/events/replay", hubTok, map[string]any{"connectionId": conn, "since": start, "until": time.Now().UTC()})
	if r.Status != http.StatusAccepted {
		t.Fatalf("replay: %d %s", r.Status, r.Body)
	}
	r.decode(t, &replayed)
	if replayed.Deliveries != 5 {
		t.Fatalf("replay of %d events, want the 5 published", replayed.Deliveries)
	}
	eventually(t, 30*time.Second, "seq 0 recovered by replay", func() bool { return inboundSeqs(t, spoke, spokeTok)[0] == 1 })
	var page struct{ Items []federation.Message }
	call(t, spoke, "GET", "/events/messages?direction=INBOUND&limit=100", spokeTok, nil).decode(t, &page)
	for _, m := range page.Items {
		var p struct{ Seq int }
		_ = json.Unmarshal(m.Payload, &p)
		if p.Seq == 0 && m.ReplayOf == "" {
			t.Fatalf("the replayed event carries no replayOf: %+v", m)
		}
	}
}

// A peer that answers 202 and never sends the EVENT_ACK gets the event
// again after the ACK deadline (2 s here; an hour by default).
func TestAckDeadline(t *testing.T) {
	t.Parallel()
	c := clusterWith(t, fastRetries, "hub")
	hub := c.Instances["hub"]
	mallory := newHostilePeer(t)
	conn := mallory.joinWithInvite(hub, "ws-m")
	tok := token(t, "ws-m")
	sub := mallory.envelope("COMMAND", conn, instanceID(t, hub), map[string]any{"commandType": "event.subscribe", "payload": map[string]any{"eventType": "task.*"}})
	if r := mallory.post(hub, "/command", mallory.sign(sub, nil)); r.Status != http.StatusAccepted {
		t.Fatalf("subscribe: %d %s", r.Status, r.Body)
	}
	eventually(t, 15*time.Second, "the hub holding the subscription", func() bool {
		return len(activeSubs(t, hub, tok, conn, federation.Inbound)) == 1
	})
	id, _ := publish(t, hub, tok, "task.created", map[string]int{"seq": 1})
	_ = id
	eventually(t, 30*time.Second, "the EVENT sent again after the deadline", func() bool {
		byID := map[string]int{}
		for _, raw := range mallory.got("/incoming/event") {
			var ev struct{ MessageID string }
			_ = json.Unmarshal(raw, &ev)
			byID[ev.MessageID]++
		}
		for _, n := range byID {
			if n >= 2 {
				return true
			}
		}
		return false
	})
	var page struct{ Items []federation.Message }
	call(t, hub, "GET", "/events/messages?direction=OUTBOUND", tok, nil).decode(t, &page)
	if len(page.Items) != 1 || page.Items[0].Attempts < 2 || page.Items[0].Status == federation.MsgDelivered {
		t.Fatalf("the delivery %+v", page.Items)
	}
}

// The same messageId on two connections is two messages, each answered as
// its own (duplicates are per connection).
func TestSameMessageIDOnTwoConnections(t *testing.T) {
	t.Parallel()
	c := clusterWith(t, fastRetries, "hub")
	hub := c.Instances["hub"]
	hubID := instanceID(t, hub)
	a, b := newHostilePeer(t), newHostilePeer(t)
	connA, connB := a.joinWithInvite(hub, "ws-x"), b.joinWithInvite(hub, "ws-x")
	shared := ids.New()
	var answers [][]byte
	for _, p := range []struct {
		peer *hostilePeer
		conn string
	}{{a, connA}, {b, connB}} {
		env := p.peer.envelope("EVENT", p.conn, hubID, map[string]any{"eventType": "task.created", "payload": map[string]int{"seq": 1}})
		env["messageId"] = shared
		r := p.peer.post(hub, "/event", p.peer.sign(env, nil))
		if r.Status != http.StatusOK || !p.peer.verifiedFrom(hub, r.Body) {
			t.Fatalf("EVENT on %s: %d %s", p.conn, r.Status, r.Body)
		}
		answers = append(answers, r.Body)
	}
	if string(answers[0]) == string(answers[1]) {
		t.Fatal("two connections got the same answer")
	}
	var page struct{ Items []federation.Message }
	call(t, hub, "GET", "/events/messages?direction=INBOUND", token(t, "ws-x"), nil).decode(t, &page)
	conns := map[string]bool{}
	for _, m := range page.Items {
		conns[m.ConnectionID] = true
	}
	if len(page.Items) != 2 || !conns[connA] || !conns[connB] {
		t.Fatalf("stored %+v, want one message per connection", page.Items)
	}
}

// When an open circuit's wait is over exactly one delivery probes the peer;
// the others wait for its outcome.
func TestHalfOpenSingleProbe(t *testing.T) {
	t.Parallel()
	c := clusterWith(t, fastRetries, "hub")
	hub := c.Instances["hub"]
	mallory := newHostilePeer(t)
	conn := mallory.joinWithInvite(hub, "ws-m")
	tok := token(t, "ws-m")
	sub := mallory.envelope("COMMAND", conn, instanceID(t, hub), map[string]any{"commandType": "event.subscribe", "payload": map[string]any{"eventType": "task.*"}})
	if r := mallory.post(hub, "/command", mallory.sign(sub, nil)); r.Status != http.StatusAccepted {
		t.Fatalf("subscribe: %d %s", r.Status, r.Body)
	}
	eventually(t, 15*time.Second, "the hub holding the subscription", func() bool {
		return len(activeSubs(t, hub, tok, conn, federation.Inbound)) == 1
	})
	var mu sync.Mutex
	var times []time.Time
	mallory.answer = func(path string, body []byte) (int, []byte) {
		if path == "/incoming/event" {
			mu.Lock()
			times = append(times, time.Now())
			mu.Unlock()
		}
		return http.StatusInternalServerError, []byte(`{}`)
	}
	for seq := range 12 {
		publish(t, hub, tok, "task.created", map[string]int{"seq": seq})
	}
	// The circuit opens (10 failures, 1 s here); each time its wait ends one
	// delivery probes, fails, and the circuit opens again for twice as long
	// (up to 4 s). Twelve deliveries wait: were they all let through, the
	// peer would see them at once; it sees the probes one by one.
	var open federation.Health
	eventually(t, 30*time.Second, "the circuit open", func() bool {
		open = connection(t, hub, tok, conn).Health
		return open.Circuit == federation.CircuitOpen && open.OpenUntil != nil
	})
	eventually(t, 30*time.Second, "three probes", func() bool {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, at := range times {
			if at.After(*open.OpenUntil) {
				n++
			}
		}
		return n >= 3
	})
	mu.Lock()
	defer mu.Unlock()
	var probes []time.Time
	for _, at := range times {
		if at.After(*open.OpenUntil) {
			probes = append(probes, at)
		}
	}
	for i := 1; i < len(probes); i++ {
		if gap := probes[i].Sub(probes[i-1]); gap < 500*time.Millisecond {
			t.Fatalf("two deliveries %s apart while half-open: %v", gap, probes)
		}
	}
	if h := connection(t, hub, tok, conn).Health; h.Circuit == federation.CircuitClosed {
		t.Fatalf("the circuit closed though every probe failed: %+v", h)
	}
}
