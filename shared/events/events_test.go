package events_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fedgate/fedgate/shared/app/apptest"
	"github.com/fedgate/fedgate/shared/events"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/queue"
	"github.com/fedgate/fedgate/shared/store"
)

// Publishing validates the event; the fan-out writes one delivery per
// subscribed ACTIVE connection, and a fan-out job that runs twice writes
// the same deliveries, not new ones.
func TestPublishAndFanout(t *testing.T) {
	ctx := context.Background()
	a := apptest.New(t)
	for _, tt := range []struct {
		in   events.PublishInput
		code federation.Code
	}{
		{events.PublishInput{EventType: "Task", Payload: json.RawMessage(`{}`)}, federation.CodeValidation},
		{events.PublishInput{EventType: "task.created"}, federation.CodeValidation},
		{events.PublishInput{EventType: "task.created", Payload: json.RawMessage(`"x"`)}, federation.CodeValidation},
		{events.PublishInput{EventType: "task.created", Payload: json.RawMessage(`{"p":"` + strings.Repeat("x", events.MaxPayload) + `"}`)}, federation.CodePayloadTooLarge},
	} {
		if _, err := a.Events.Publish(ctx, "ws", tt.in); !federation.HasCode(err, tt.code) {
			t.Errorf("publish %s: %v, want %s", tt.in.EventType, err, tt.code)
		}
	}
	subscribed := map[string]bool{}
	for i, status := range []federation.ConnStatus{federation.StatusActive, federation.StatusActive, federation.StatusSuspended} {
		c := apptest.Connection(t, a, "ws", status, "")
		pattern := "task.*"
		if i == 1 {
			pattern = "task.created"
		}
		if _, err := a.Store.Subscriptions.Set(ctx, store.SubscriptionChange{Workspace: "ws", ConnectionID: c.ID, Direction: federation.Inbound, EventType: pattern, Active: true}); err != nil {
			t.Fatal(err)
		}
		subscribed[c.ID] = status == federation.StatusActive
	}
	other := apptest.Connection(t, a, "ws", federation.StatusActive, "")
	if _, err := a.Store.Subscriptions.Set(ctx, store.SubscriptionChange{Workspace: "ws", ConnectionID: other.ID, Direction: federation.Inbound, EventType: "project.*", Active: true}); err != nil {
		t.Fatal(err)
	}
	published, err := a.Events.Publish(ctx, "ws", events.PublishInput{EventType: "task.created", Payload: json.RawMessage(`{"id":1}`)})
	if err != nil || published.Deliveries != 2 {
		t.Fatalf("publish: %+v %v, want 2 deliveries", published, err)
	}
	job := queue.Job{WorkspaceID: "ws", MessageID: published.EventID}
	for range 2 {
		if err := a.Events.Fanout(ctx, job); err != nil {
			t.Fatal(err)
		}
	}
	page, err := a.Store.Messages.List(ctx, "ws", store.ListFilter{Type: federation.TypeEvent, Direction: federation.Outbound}, 100, "")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, m := range page.Items {
		got[m.ConnectionID]++
		if m.EventType != "task.created" || string(m.Payload) != `{"id":1}` || m.Status != federation.MsgPending {
			t.Errorf("delivery %+v", m)
		}
	}
	for conn, want := range subscribed {
		if want && got[conn] != 1 || !want && got[conn] != 0 {
			t.Errorf("connection %s got %d deliveries (ACTIVE subscriber: %v)", conn, got[conn], want)
		}
	}
	if len(got) != 2 {
		t.Fatalf("deliveries to %d connections, want 2: %v", len(got), got)
	}
}

// Subscribing validates the pattern and the connection, stores the
// subscription and sends event.subscribe to the publisher.
func TestSubscribe(t *testing.T) {
	ctx := context.Background()
	a := apptest.New(t)
	conn := apptest.Connection(t, a, "ws", federation.StatusActive, "")
	if _, err := a.Events.Subscribe(ctx, "ws", events.SubscribeInput{ConnectionID: conn.ID, EventType: "task"}); !federation.HasCode(err, federation.CodeValidation) {
		t.Fatalf("one-word type: %v", err)
	}
	if _, err := a.Events.Unsubscribe(ctx, "ws", events.SubscribeInput{ConnectionID: conn.ID, EventType: "task.*"}); err == nil {
		t.Fatal("unsubscribing from what was never subscribed succeeded")
	}
	sub, err := a.Events.Subscribe(ctx, "ws", events.SubscribeInput{ConnectionID: conn.ID, EventType: "task.*", Metadata: json.RawMessage(`{"why":"x"}`)})
	if err != nil || !sub.IsActive || sub.Direction != federation.Outbound {
		t.Fatalf("subscribe: %+v %v", sub, err)
	}
	cmds, _ := a.Store.Messages.List(ctx, "ws", store.ListFilter{Type: federation.TypeCommand}, 10, "")
	if len(cmds.Items) != 1 || cmds.Items[0].CommandType != "event.subscribe" || string(cmds.Items[0].Payload) != `{"eventType":"task.*"}` {
		t.Fatalf("commands to the publisher: %+v", cmds.Items)
	}
	if err := a.Events.Follow(ctx, conn, "task.*"); err != nil {
		t.Fatal(err)
	}
	if cmds, _ := a.Store.Messages.List(ctx, "ws", store.ListFilter{Type: federation.TypeCommand}, 10, ""); len(cmds.Items) != 1 {
		t.Fatalf("following an active subscription sent another command: %d", len(cmds.Items))
	}
}

// A catch-up sends a connection the events the fan-out skipped while it was
// SUSPENDED, never those from before the peer subscribed, and a replay sends
// every event of its window again, marked with replayOf.
func TestCatchUpAndReplay(t *testing.T) {
	ctx := context.Background()
	a := apptest.New(t)
	conn := apptest.Connection(t, a, "ws", federation.StatusActive, "")
	publish := func(seq int) string {
		t.Helper()
		p, err := a.Events.Publish(ctx, "ws", events.PublishInput{EventType: "task.created", Payload: json.RawMessage(`{"seq":` + strconv.Itoa(seq) + `}`)})
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Events.Fanout(ctx, queue.Job{WorkspaceID: "ws", MessageID: p.EventID}); err != nil {
			t.Fatal(err)
		}
		return p.EventID
	}
	start := time.Now().Add(-time.Minute)
	before := publish(0)
	time.Sleep(5 * time.Millisecond)
	if _, err := a.Store.Subscriptions.Set(ctx, store.SubscriptionChange{Workspace: "ws", ConnectionID: conn.ID, Direction: federation.Inbound, EventType: "task.*", Active: true}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	if _, err := a.Store.Connections.Transition(ctx, "ws", conn.ID, store.ConnectionChange{To: federation.StatusSuspended}); err != nil {
		t.Fatal(err)
	}
	missed := publish(1)
	deliveries := func() map[string]string {
		page, err := a.Store.Messages.List(ctx, "ws", store.ListFilter{Type: federation.TypeEvent, Direction: federation.Outbound}, 100, "")
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, m := range page.Items {
			out[m.ID] = m.ReplayOf
		}
		return out
	}
	if got := deliveries(); len(got) != 0 {
		t.Fatalf("deliveries to a SUSPENDED connection: %v", got)
	}
	catchUp := queue.Job{WorkspaceID: "ws", MessageID: "c1", Kind: queue.KindCatchUp, ConnectionID: conn.ID,
		Since: start.UnixMilli(), Until: time.Now().Add(time.Minute).UnixMilli(), Patterns: []string{"task.*"}}
	for range 2 { // a job that runs twice writes the same delivery
		if err := a.Events.Fanout(ctx, catchUp); err != nil {
			t.Fatal(err)
		}
	}
	if got := deliveries(); len(got) != 1 || got[events.DeliveryID(missed, conn.ID)] != "" {
		t.Fatalf("catch-up deliveries %v, want only the missed event %s", got, missed)
	}
	replay := catchUp
	replay.Kind, replay.MessageID = queue.KindReplay, "r1"
	if err := a.Events.Fanout(ctx, replay); err != nil {
		t.Fatal(err)
	}
	replayed := map[string]bool{}
	for _, of := range deliveries() {
		replayed[of] = true
	}
	if !replayed[before] || !replayed[missed] {
		t.Fatalf("replay marked %v, want both events", replayed)
	}
}
