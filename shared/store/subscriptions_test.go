package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/store"
)

// A subscription is unique per (workspace, connection, direction, type):
// subscribing again reactivates it with the same id; the fan-out index holds
// only the active INBOUND ones of the event's family.
func TestSubscriptions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	subs := openStore(t).Subscriptions
	first, err := subs.Set(ctx, store.SubscriptionChange{Workspace: "ws", ConnectionID: "c1", Direction: federation.Inbound, EventType: "task.*", Active: true, Metadata: []byte(`{"a":1}`)})
	if err != nil {
		t.Fatal(err)
	}
	off, err := subs.Set(ctx, store.SubscriptionChange{Workspace: "ws", ConnectionID: "c1", Direction: federation.Inbound, EventType: "task.*", Active: false})
	if err != nil || off.ID != first.ID || off.IsActive || string(off.Metadata) != `{"a":1}` {
		t.Fatalf("unsubscribe: %+v %v", off, err)
	}
	for _, s := range []struct{ conn, dir, typ string }{
		{"c2", federation.Inbound, "task.created"}, {"c3", federation.Inbound, "project.*"}, {"c4", federation.Outbound, "task.created"},
	} {
		if _, err := subs.Set(ctx, store.SubscriptionChange{Workspace: "ws", ConnectionID: s.conn, Direction: s.dir, EventType: s.typ, Active: true}); err != nil {
			t.Fatal(err)
		}
	}
	matching, next, err := subs.Candidates(ctx, "ws", "task.created", 10, "")
	if err != nil || next != "" || len(matching) != 1 || matching[0].ConnectionID != "c2" {
		t.Fatalf("matching task.created: %+v %q %v", matching, next, err)
	}
	if _, err := subs.Set(ctx, store.SubscriptionChange{Workspace: "ws", ConnectionID: "c1", Direction: federation.Inbound, EventType: "task.*", Active: true}); err != nil {
		t.Fatal(err)
	}
	matching, _, _ = subs.Candidates(ctx, "ws", "task.created", 1, "")
	if len(matching) != 1 {
		t.Fatalf("one per page: %+v", matching)
	}
	if _, _, err := subs.Candidates(ctx, "ws", "task.created", 1, "bm90LWEtY3Vyc29y"); !errors.Is(err, store.ErrBadCursor) {
		t.Fatalf("foreign cursor: %v", err)
	}
	active, err := subs.Active(ctx, "ws", "c4", federation.Outbound)
	if err != nil || len(active) != 1 || active[0].EventType != "task.created" {
		t.Fatalf("outbound subscriptions of c4: %v %v", active, err)
	}
	if _, err := subs.Get(ctx, "other", "c1", federation.Inbound, "task.*"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("another workspace reads it: %v", err)
	}
	all, err := subs.List(ctx, "ws", "")
	if err != nil || len(all) != 4 {
		t.Fatalf("list: %d %v", len(all), err)
	}
}

// The bound on active subscriptions holds: reactivating or re-sending one
// does not count twice, deactivating frees a place.
func TestSubscriptionLimit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	subs := openStore(t).Subscriptions
	set := func(typ string, active bool) error {
		_, err := subs.Set(ctx, store.SubscriptionChange{Workspace: "ws", ConnectionID: "c", Direction: federation.Inbound, EventType: typ, Active: active, Limit: 2})
		return err
	}
	for _, step := range []struct {
		typ    string
		active bool
		want   error
	}{
		{"a.one", true, nil}, {"a.one", true, nil}, {"a.two", true, nil}, {"a.three", true, store.ErrLimit},
		{"a.one", false, nil}, {"a.one", false, nil}, {"a.three", true, nil}, {"a.one", true, store.ErrLimit},
		{"b.never", false, nil},
	} {
		if err := set(step.typ, step.active); !errors.Is(err, step.want) {
			t.Fatalf("set %s active=%v: %v, want %v", step.typ, step.active, err, step.want)
		}
	}
	active := 0
	all, _ := subs.List(ctx, "ws", "c")
	for _, s := range all {
		if s.IsActive {
			active++
		}
	}
	if active != 2 {
		t.Fatalf("%d active subscriptions, want 2", active)
	}
	other, err := subs.Set(ctx, store.SubscriptionChange{Workspace: "ws", ConnectionID: "c", Direction: federation.Outbound, EventType: "a.three", Active: true, Limit: 2})
	if err != nil || !other.IsActive {
		t.Fatalf("the other direction has its own bound: %v", err)
	}
}
