package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fedgate/fedgate/infra/local"
	"github.com/fedgate/fedgate/shared/config"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/queue"
	"github.com/fedgate/fedgate/shared/store"
)

// subscribe makes the spoke (as spokeTok's workspace) subscribe to eventType
// on the hub and waits until the hub, the publisher, holds it.
func subscribe(t *testing.T, hub, spoke *local.Instance, hubTok, spokeTok, conn, eventType string) {
	t.Helper()
	r := call(t, spoke, "POST", "/events/subscribe", spokeTok, map[string]string{"connectionId": conn, "eventType": eventType})
	if r.Status != http.StatusCreated {
		t.Fatalf("subscribe %s: %d %s", eventType, r.Status, r.Body)
	}
	eventually(t, 15*time.Second, "the hub holding "+eventType, func() bool {
		var page struct{ Items []federation.Subscription }
		call(t, hub, "GET", "/events/subscriptions?connectionId="+conn, hubTok, nil).decode(t, &page)
		for _, s := range page.Items {
			if s.EventType == eventType && s.Direction == federation.Inbound && s.IsActive {
				return true
			}
		}
		return false
	})
}

func publish(t *testing.T, hub *local.Instance, tok, eventType string, payload any) (string, int) {
	t.Helper()
	r := call(t, hub, "POST", "/events/publish", tok, map[string]any{"eventType": eventType, "payload": payload})
	if r.Status != http.StatusAccepted {
		t.Fatalf("publish %s: %d %s", eventType, r.Status, r.Body)
	}
	var out struct {
		EventID    string
		Deliveries int
	}
	r.decode(t, &out)
	return out.EventID, out.Deliveries
}

func eventMessages(t *testing.T, inst *local.Instance, tok, query string) []federation.Message {
	t.Helper()
	var all []federation.Message
	cursor := ""
	for {
		var page struct {
			Items      []federation.Message
			NextCursor string
		}
		q := "/events/messages?limit=100&" + query
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		r := call(t, inst, "GET", q, tok, nil)
		if r.Status != 200 {
			t.Fatalf("GET %s: %d %s", q, r.Status, r.Body)
		}
		r.decode(t, &page)
		all = append(all, page.Items...)
		if page.NextCursor == "" {
			return all
		}
		cursor = page.NextCursor
	}
}

func TestEventSubscriptionsFilterAndAck(t *testing.T) {
	t.Parallel()
	c := clusterWith(t, fastRetries, "hub", "spoke")
	hub, spoke := c.Instances["hub"], c.Instances["spoke"]
	hubTok, spokeTok := token(t, "ws-hub"), token(t, "default")
	conn := connect(t, hub, spoke, hubTok, spokeTok)
	subscribe(t, hub, spoke, hubTok, spokeTok, conn, "task.created")
	subscribe(t, hub, spoke, hubTok, spokeTok, conn, "project.*")

	// The spoke can check what the hub holds for it with a QUERY.
	var q federation.Message
	call(t, spoke, "POST", "/query", spokeTok, map[string]string{"connectionId": conn, "query": "events.subscriptions"}).decode(t, &q)
	if q.Response == nil || !strings.Contains(string(q.Response.Data), "project.*") {
		t.Fatalf("events.subscriptions query: %+v", q.Response)
	}

	wants := map[string]int{"task.created": 1, "project.updated": 1, "user.deleted": 0}
	for _, et := range []string{"task.created", "project.updated", "user.deleted"} {
		if _, n := publish(t, hub, hubTok, et, map[string]string{"type": et}); n != wants[et] {
			t.Fatalf("publish %s: %d deliveries, want %d", et, n, wants[et])
		}
	}
	eventually(t, 20*time.Second, "both deliveries DELIVERED on the hub", func() bool {
		out := eventMessages(t, hub, hubTok, "direction=OUTBOUND&status=DELIVERED")
		return len(out) == 2
	})
	out := eventMessages(t, hub, hubTok, "direction=OUTBOUND")
	if len(out) != 2 {
		t.Fatalf("hub has %d deliveries, want 2 (none for user.deleted)", len(out))
	}
	for _, m := range out {
		if m.Response == nil || !m.Response.Success || m.DeliveredAt == nil || m.Attempts != 1 {
			t.Errorf("delivery without a positive ACK: %+v", m)
		}
	}
	in := eventMessages(t, spoke, spokeTok, "direction=INBOUND")
	got := map[string]bool{}
	for _, m := range in {
		got[m.EventType] = true
		if m.Status != federation.MsgDelivered {
			t.Errorf("spoke stored %s as %s", m.EventType, m.Status)
		}
	}
	if len(in) != 2 || !got["task.created"] || !got["project.updated"] {
		t.Fatalf("spoke stored %v", got)
	}
	// A single message is readable by id on both sides.
	if r := call(t, hub, "GET", "/events/messages/"+out[0].ID, hubTok, nil); r.Status != 200 {
		t.Errorf("GET hub message: %d", r.Status)
	}
	if r := call(t, spoke, "GET", "/events/messages/"+out[0].ID, spokeTok, nil); r.Status != 200 {
		t.Errorf("GET spoke message: %d", r.Status)
	}
}

func TestEventToUnsubscribedTypeIsIgnored(t *testing.T) {
	t.Parallel()
	c := clusterWith(t, fastRetries, "hub", "spoke")
	hub, spoke := c.Instances["hub"], c.Instances["spoke"]
	hubTok, spokeTok := token(t, "ws-hub"), token(t, "default")
	conn := connect(t, hub, spoke, hubTok, spokeTok)
	// The hub sends an EVENT the spoke never subscribed to (e.g. stale state on the hub).
	env := envelope(t, hub, spoke, federation.EnvEvent, conn, "evt-1", time.Now(), federation.EventBody{EventType: "user.deleted", Payload: []byte(`{}`)})
	r := call(t, spoke, "POST", "/incoming/event", "", env)
	var ack struct {
		Type          string
		CorrelationID string
		Received      bool
		Signature     string
	}
	r.decode(t, &ack)
	if r.Status != 200 || ack.Type != federation.EnvEventAck || ack.CorrelationID != "evt-1" || ack.Received || ack.Signature == "" {
		t.Fatalf("ack %d %s", r.Status, r.Body)
	}
	in := eventMessages(t, spoke, spokeTok, "direction=INBOUND&status=IGNORED")
	if len(in) != 1 || in[0].EventType != "user.deleted" {
		t.Fatalf("spoke stored %+v", in)
	}
	// The same envelope again: the same outcome (the same answer id and
	// members) signed afresh, and nothing stored twice (PROTOCOL.md §3 step 5).
	again := call(t, spoke, "POST", "/incoming/event", "", env)
	first, second := members(t, r.Body), members(t, again.Body)
	for _, m := range []string{"messageId", "correlationId", "received", "connectionId", "toInstanceId", "toUrl", "type"} {
		if string(first[m]) != string(second[m]) {
			t.Errorf("the duplicate's answer differs in %s: %s, then %s", m, first[m], second[m])
		}
	}
	if again.Status != 200 || string(first["signature"]) == string(second["signature"]) {
		t.Errorf("the duplicate's answer is not signed afresh: %d %s", again.Status, again.Body)
	}
	if in := eventMessages(t, spoke, spokeTok, "direction=INBOUND"); len(in) != 1 {
		t.Fatalf("the duplicate was stored again: %+v", in)
	}
}

func threeSpokes(t *testing.T, configure func(string, *config.Config)) (*local.Instance, []*local.Instance, []string) {
	c := clusterWith(t, configure, "hub", "s1", "s2", "s3")
	hub := c.Instances["hub"]
	hubTok, spokeTok := token(t, "ws-hub"), token(t, "default")
	var spokes []*local.Instance
	var conns []string
	for _, n := range []string{"s1", "s2", "s3"} {
		s := c.Instances[n]
		id := connect(t, hub, s, hubTok, spokeTok)
		subscribe(t, hub, s, hubTok, spokeTok, id, "task.created")
		spokes, conns = append(spokes, s), append(conns, id)
	}
	return hub, spokes, conns
}

func deliveryStatus(t *testing.T, hub *local.Instance, tok string) map[string]federation.Message {
	out := map[string]federation.Message{}
	for _, m := range eventMessages(t, hub, tok, "direction=OUTBOUND") {
		out[m.ConnectionID] = m
	}
	return out
}

func TestFanOutWithOnePeerDown(t *testing.T) {
	t.Parallel()
	hub, spokes, conns := threeSpokes(t, fastRetries)
	hubTok := token(t, "ws-hub")
	spokes[2].Down()
	if _, n := publish(t, hub, hubTok, "task.created", map[string]int{"n": 1}); n != 3 {
		t.Fatalf("%d deliveries, want 3", n)
	}
	eventually(t, 20*time.Second, "two DELIVERED, the third RETRYING", func() bool {
		st := deliveryStatus(t, hub, hubTok)
		return st[conns[0]].Status == federation.MsgDelivered && st[conns[1]].Status == federation.MsgDelivered &&
			st[conns[2]].Status == federation.MsgRetrying && st[conns[2]].Attempts >= 2
	})
	if err := spokes[2].Up(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the third DELIVERED", func() bool {
		return deliveryStatus(t, hub, hubTok)[conns[2]].Status == federation.MsgDelivered
	})
	if in := eventMessages(t, spokes[2], token(t, "default"), "direction=INBOUND"); len(in) != 1 {
		t.Fatalf("the late peer stored %d events", len(in))
	}
}

func TestFanOutBudgetSpent(t *testing.T) {
	t.Parallel()
	hub, spokes, conns := threeSpokes(t, func(name string, c *config.Config) {
		fastRetries(name, c)
		c.Retry.MaxAttempts = 3
	})
	hubTok := token(t, "ws-hub")
	spokes[1].Down()
	publish(t, hub, hubTok, "task.created", map[string]int{"n": 1})
	eventually(t, 20*time.Second, "FAILED and dead-lettered", func() bool {
		m := deliveryStatus(t, hub, hubTok)[conns[1]]
		if m.Status != federation.MsgFailed {
			return false
		}
		rec, err := hub.App.Store.Messages.Get(t.Context(), "ws-hub", m.ID)
		return err == nil && rec.DeadLetteredAt != nil
	})
	st := deliveryStatus(t, hub, hubTok)
	if st[conns[0]].Status != federation.MsgDelivered || st[conns[2]].Status != federation.MsgDelivered || st[conns[1]].Attempts != 3 {
		t.Fatalf("statuses %+v", st)
	}
	// The operator hears of it (and the alarm's metric counts it).
	ops, err := hub.App.Operations.List(t.Context(), "ws-hub", 10, "")
	if err != nil || len(ops.Items) != 1 || ops.Items[0].Type != federation.OpDeliveryExhausted || ops.Items[0].MessageID != st[conns[1]].ID {
		t.Fatalf("operator events %+v %v", ops.Items, err)
	}
}

func TestFanOutManyEventsNoDuplicates(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("600 deliveries through moto_server")
	}
	hub, spokes, _ := threeSpokes(t, fastRetries)
	hubTok := token(t, "ws-hub")
	const events = 200
	start := time.Now()
	var ids []string
	for i := range events {
		id, n := publish(t, hub, hubTok, "task.created", map[string]int{"i": i})
		if n != 3 {
			t.Fatalf("event %d: %d deliveries", i, n)
		}
		ids = append(ids, id)
	}
	// Every fan-out job delivered twice.
	for _, id := range ids {
		if err := hub.App.Jobs.Send(t.Context(), queue.Fanout, queue.Job{WorkspaceID: "ws-hub", MessageID: id}, 0); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("published %d events in %s", events, time.Since(start))
	var last []federation.Message
	defer func() {
		if t.Failed() {
			// Where the deliveries stand, for whoever reads the failure.
			byStatus := map[federation.MsgStatus]int{}
			for _, m := range last {
				byStatus[m.Status]++
			}
			t.Logf("deliveries by status: %v", byStatus)
			for _, m := range last {
				if m.Status != federation.MsgDelivered {
					rec, _ := hub.App.Store.Messages.Get(t.Context(), "ws-hub", m.ID)
					if rec != nil {
						t.Logf("undelivered %s: status %s, attempts %d, error %q, log %+v", m.ID, rec.Status, rec.Attempts, rec.Error, rec.AttemptLog)
					}
					break
				}
			}
		}
	}()
	eventuallyEvery(t, 4*time.Minute, 3*time.Second, "600 deliveries DELIVERED", func() bool {
		last = eventMessages(t, hub, hubTok, "direction=OUTBOUND")
		n := 0
		for _, m := range last {
			if m.Status == federation.MsgDelivered {
				n++
			}
		}
		return n == 3*events
	})
	t.Logf("all delivered after %s", time.Since(start))
	if all := eventMessages(t, hub, hubTok, "direction=OUTBOUND"); len(all) != 3*events {
		t.Fatalf("hub holds %d deliveries, want %d", len(all), 3*events)
	}
	var wg sync.WaitGroup
	for _, s := range spokes {
		wg.Go(func() {
			in := eventMessages(t, s, token(t, "default"), "direction=INBOUND")
			seen := map[string]bool{}
			for _, m := range in {
				var p struct{ I int }
				_ = json.Unmarshal(m.Payload, &p)
				key := fmt.Sprint(p.I)
				if seen[key] {
					t.Errorf("event %s stored twice", key)
				}
				seen[key] = true
			}
			if len(in) != events {
				t.Errorf("a spoke stored %d events, want %d", len(in), events)
			}
		})
	}
	wg.Wait()
}

func TestUnsubscribeResubscribeAndReplay(t *testing.T) {
	t.Parallel()
	c := clusterWith(t, fastRetries, "hub", "spoke")
	hub, spoke := c.Instances["hub"], c.Instances["spoke"]
	hubTok, spokeTok := token(t, "ws-hub"), token(t, "default")
	conn := connect(t, hub, spoke, hubTok, spokeTok)
	subscribe(t, hub, spoke, hubTok, spokeTok, conn, "task.*")

	var windowStart, windowEnd time.Time
	for i := range 5 {
		if i == 1 {
			windowStart = time.Now()
		}
		publish(t, hub, hubTok, "task.created", map[string]int{"i": i})
		if i == 3 {
			windowEnd = time.Now()
		}
		time.Sleep(20 * time.Millisecond)
	}
	eventually(t, 20*time.Second, "5 delivered", func() bool {
		return len(eventMessages(t, hub, hubTok, "direction=OUTBOUND&status=DELIVERED")) == 5
	})

	// Unsubscribe: further events are not delivered.
	if r := call(t, spoke, "POST", "/events/unsubscribe", spokeTok, map[string]string{"connectionId": conn, "eventType": "task.*"}); r.Status != 200 {
		t.Fatalf("unsubscribe: %d %s", r.Status, r.Body)
	}
	eventually(t, 15*time.Second, "the hub dropping the subscription", func() bool {
		_, n := publishDryRun(t, hub)
		return n == 0
	})
	if _, n := publish(t, hub, hubTok, "task.created", map[string]int{"i": 99}); n != 0 {
		t.Fatalf("%d deliveries after unsubscribe", n)
	}
	// Re-subscribe reactivates.
	subscribe(t, hub, spoke, hubTok, spokeTok, conn, "task.*")
	if _, n := publish(t, hub, hubTok, "task.created", map[string]int{"i": 100}); n != 1 {
		t.Fatalf("%d deliveries after re-subscribe", n)
	}

	// Replay the window [event 1, event 3].
	r := call(t, hub, "POST", "/events/replay", hubTok, map[string]any{"connectionId": conn, "since": windowStart, "until": windowEnd})
	var rep struct{ Deliveries int }
	r.decode(t, &rep)
	if r.Status != http.StatusAccepted || rep.Deliveries != 3 {
		t.Fatalf("replay: %d %s", r.Status, r.Body)
	}
	eventually(t, 20*time.Second, "replayed events on the spoke", func() bool {
		n := 0
		for _, m := range eventMessages(t, spoke, spokeTok, "direction=INBOUND") {
			if m.ReplayOf != "" {
				n++
			}
		}
		return n == 3
	})
	replayed := map[int]bool{}
	for _, m := range eventMessages(t, spoke, spokeTok, "direction=INBOUND") {
		if m.ReplayOf != "" {
			var p struct{ I int }
			_ = json.Unmarshal(m.Payload, &p)
			replayed[p.I] = true
		}
	}
	if len(replayed) != 3 || !replayed[1] || !replayed[2] || !replayed[3] {
		t.Fatalf("replayed %v, want events 1, 2 and 3", replayed)
	}

	// Redeliver one message.
	first := eventMessages(t, hub, hubTok, "direction=OUTBOUND&status=DELIVERED")[0]
	r = call(t, hub, "POST", "/events/messages/"+first.ID+"/redeliver", hubTok, nil)
	if r.Status != http.StatusAccepted {
		t.Fatalf("redeliver: %d %s", r.Status, r.Body)
	}
	eventually(t, 20*time.Second, "the redelivery", func() bool {
		for _, m := range eventMessages(t, spoke, spokeTok, "direction=INBOUND") {
			if m.ReplayOf == first.ID {
				return true
			}
		}
		return false
	})
}

// publishDryRun counts the current deliveries of a task.created event
// without publishing (through the hub's subscription store).
func publishDryRun(t *testing.T, hub *local.Instance) (string, int) {
	subs, _, err := hub.App.Store.Subscriptions.Candidates(t.Context(), "ws-hub", "task.created", 100, "")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, sub := range subs {
		if sub.Receives(federation.NewEvent("task.created", nil)) {
			n++
		}
	}
	return "", n
}

func TestEventsBadInput(t *testing.T) {
	t.Parallel()
	c := clusterWith(t, fastRetries, "hub", "spoke")
	hub, spoke := c.Instances["hub"], c.Instances["spoke"]
	hubTok, spokeTok := token(t, "ws-hub"), token(t, "default")
	conn := connect(t, hub, spoke, hubTok, spokeTok)
	subscribe(t, hub, spoke, hubTok, spokeTok, conn, "task.created")
	publish(t, hub, hubTok, "task.created", map[string]int{"n": 1})
	eventually(t, 15*time.Second, "one delivery", func() bool {
		return len(eventMessages(t, hub, hubTok, "direction=OUTBOUND&status=DELIVERED")) == 1
	})
	delivery := eventMessages(t, hub, hubTok, "direction=OUTBOUND")[0]
	other := token(t, "ws-other")
	tests := []struct {
		name        string
		inst        *local.Instance
		method, url string
		tok         string
		body        any
		status      int
		code        string
	}{
		{"invalid event type", hub, "POST", "/events/publish", hubTok, map[string]any{"eventType": "Task Created", "payload": map[string]int{}}, 400, "validation_failed"},
		{"wildcard published", hub, "POST", "/events/publish", hubTok, map[string]any{"eventType": "task.*", "payload": map[string]int{}}, 400, "validation_failed"},
		{"payload not an object", hub, "POST", "/events/publish", hubTok, map[string]any{"eventType": "task.created", "payload": []int{1}}, 400, "validation_failed"},
		{"payload over the limit", hub, "POST", "/events/publish", hubTok, map[string]any{"eventType": "task.created", "payload": map[string]string{"x": strings.Repeat("a", 70*1024)}}, 413, "payload_too_large"},
		{"invalid pattern", spoke, "POST", "/events/subscribe", spokeTok, map[string]string{"connectionId": conn, "eventType": "task.*.x"}, 400, "validation_failed"},
		{"unknown connection", spoke, "POST", "/events/subscribe", spokeTok, map[string]string{"connectionId": "nope", "eventType": "task.created"}, 404, "not_found"},
		{"another workspace's connection", spoke, "POST", "/events/subscribe", other, map[string]string{"connectionId": conn, "eventType": "task.created"}, 404, "not_found"},
		{"unsubscribe never subscribed", spoke, "POST", "/events/unsubscribe", spokeTok, map[string]string{"connectionId": conn, "eventType": "user.deleted"}, 404, "not_found"},
		{"another workspace's message", hub, "GET", "/events/messages/" + delivery.ID, other, nil, 404, "not_found"},
		{"redeliver another workspace's message", hub, "POST", "/events/messages/" + delivery.ID + "/redeliver", other, nil, 404, "not_found"},
		{"replay another workspace's connection", hub, "POST", "/events/replay", other, map[string]any{"connectionId": conn, "since": time.Now().Add(-time.Hour)}, 404, "not_found"},
		{"replay without since", hub, "POST", "/events/replay", hubTok, map[string]any{"connectionId": conn}, 400, "validation_failed"},
		{"bad status filter", hub, "GET", "/events/messages?status=LOST", hubTok, nil, 400, "validation_failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, tt.inst, tt.method, tt.url, tt.tok, tt.body)
			if r.Status != tt.status || r.errorCode(t) != tt.code {
				t.Fatalf("%d %s, want %d %s", r.Status, r.Body, tt.status, tt.code)
			}
		})
	}
	if n := len(eventMessages(t, hub, hubTok, "direction=OUTBOUND")); n != 1 {
		t.Fatalf("bad input created deliveries: %d", n)
	}
	var subs struct{ Items []federation.Subscription }
	call(t, spoke, "GET", "/events/subscriptions", other, nil).decode(t, &subs)
	if len(subs.Items) != 0 {
		t.Fatalf("another workspace sees subscriptions: %+v", subs.Items)
	}
}

// A receiver that answered 202 acknowledges later at /incoming/event/ack:
// the delivery becomes DELIVERED only on that verified ACK.
func TestLateEventAck(t *testing.T) {
	t.Parallel()
	c := clusterWith(t, fastRetries, "hub", "spoke")
	hub, spoke := c.Instances["hub"], c.Instances["spoke"]
	hubTok := token(t, "ws-hub")
	conn := connect(t, hub, spoke, hubTok, token(t, "default"))
	now := time.Now().UTC()
	rec := store.NewRecord(federation.Message{
		ID: "evt-late", WorkspaceID: "ws-hub", ConnectionID: conn, MessageType: federation.TypeEvent,
		Direction: federation.Outbound, Status: federation.MsgPending, EventType: "task.created",
		Attempts: 1, CreatedAt: now, UpdatedAt: now, DeliveredAt: &now, // answered 202
	}, federation.EnvEvent, []byte(`{"eventType":"task.created","payload":{}}`), "")
	if err := hub.App.Store.Messages.Create(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	ack := envelope(t, spoke, hub, federation.EnvEventAck, conn, "ack-1", time.Now(), federation.EventAckBody{CorrelationID: "evt-late", Received: true})
	if r := call(t, hub, "POST", "/incoming/event/ack", "", ack); r.Status != 200 {
		t.Fatalf("ack: %d %s", r.Status, r.Body)
	}
	var m federation.Message
	call(t, hub, "GET", "/events/messages/evt-late", hubTok, nil).decode(t, &m)
	if m.Status != federation.MsgDelivered || m.Response == nil || !m.Response.Success {
		t.Fatalf("after the late ACK: %+v", m)
	}
	// The same ACK again answers the same; an ACK for a message of no one answers 404.
	if r := call(t, hub, "POST", "/incoming/event/ack", "", ack); r.Status != 200 {
		t.Fatalf("duplicate ack: %d", r.Status)
	}
	bogus := envelope(t, spoke, hub, federation.EnvEventAck, conn, "ack-2", time.Now(), federation.EventAckBody{CorrelationID: "nope", Received: true})
	if r := call(t, hub, "POST", "/incoming/event/ack", "", bogus); r.Status != 404 {
		t.Fatalf("ack for an unknown message: %d %s", r.Status, r.Body)
	}
}

// members reads a JSON object's members.
func members(t *testing.T, body []byte) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("not a JSON object: %s", body)
	}
	return m
}
