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
	first, err := subs.Set(ctx, "ws", "c1", federation.Inbound, "task.*", true, []byte(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	off, err := subs.Set(ctx, "ws", "c1", federation.Inbound, "task.*", false, nil)
	if err != nil || off.ID != first.ID || off.IsActive || string(off.Metadata) != `{"a":1}` {
		t.Fatalf("unsubscribe: %+v %v", off, err)
	}
	for _, s := range []struct{ conn, dir, typ string }{
		{"c2", federation.Inbound, "task.created"}, {"c3", federation.Inbound, "project.*"}, {"c4", federation.Outbound, "task.created"},
	} {
		if _, err := subs.Set(ctx, "ws", s.conn, s.dir, s.typ, true, nil); err != nil {
			t.Fatal(err)
		}
	}
	matching, next, err := subs.Matching(ctx, "ws", "task.created", 10, "")
	if err != nil || next != "" || len(matching) != 1 || matching[0].ConnectionID != "c2" {
		t.Fatalf("matching task.created: %+v %q %v", matching, next, err)
	}
	if _, err := subs.Set(ctx, "ws", "c1", federation.Inbound, "task.*", true, nil); err != nil {
		t.Fatal(err)
	}
	matching, _, _ = subs.Matching(ctx, "ws", "task.created", 1, "")
	if len(matching) != 1 {
		t.Fatalf("one per page: %+v", matching)
	}
	if _, _, err := subs.Matching(ctx, "ws", "task.created", 1, "bm90LWEtY3Vyc29y"); !errors.Is(err, store.ErrBadCursor) {
		t.Fatalf("foreign cursor: %v", err)
	}
	patterns, err := subs.ActivePatterns(ctx, "ws", "c4")
	if err != nil || len(patterns) != 1 || patterns[0] != "task.created" {
		t.Fatalf("outbound patterns of c4: %v %v", patterns, err)
	}
	if _, err := subs.Get(ctx, "other", "c1", federation.Inbound, "task.*"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("another workspace reads it: %v", err)
	}
	all, err := subs.List(ctx, "ws", "")
	if err != nil || len(all) != 4 {
		t.Fatalf("list: %d %v", len(all), err)
	}
}
