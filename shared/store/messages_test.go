package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/ids"
	"github.com/fedgate/fedgate/shared/store"
)

func newMessage(ws, conn, msgType, direction string, created time.Time) federation.Message {
	return federation.Message{
		ID: ids.New(), WorkspaceID: ws, ConnectionID: conn, MessageType: msgType, Direction: direction,
		Status: federation.MsgPending, CreatedAt: created, UpdatedAt: created,
	}
}

// The first answer to an incoming envelope is kept with it: a duplicate on
// the same connection gets that answer, the same id on another connection
// that stores a message is refused, and one that stores none is separate.
func TestMessagesIncomingDuplicates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	msgs := openStore(t).Messages
	now := time.Now().UTC()
	m := newMessage("ws", "c1", federation.TypeEvent, federation.Inbound, now)
	first := store.Outcome{Status: 200, Body: `{"ack":1}`}
	if err := msgs.CreateIncoming(ctx, "ws", "c1", m.ID, store.NewRecord(m, "", nil, ""), first); err != nil {
		t.Fatal(err)
	}
	var dup *store.ErrDuplicate
	if err := msgs.CreateIncoming(ctx, "ws", "c1", m.ID, store.NewRecord(m, "", nil, ""), store.Outcome{Status: 500}); !errors.As(err, &dup) || dup.First != first {
		t.Fatalf("duplicate: %v, want the first answer", err)
	}
	// The same messageId from another connection is another message.
	other := m
	other.ConnectionID = "c2"
	second := store.Outcome{Status: 200, Body: `{"ack":2}`}
	otherRec := store.NewRecord(other, "", nil, "")
	if err := msgs.CreateIncoming(ctx, "ws", "c2", m.ID, otherRec, second); err != nil {
		t.Fatalf("same id from another connection: %v", err)
	}
	if otherRec.ID != store.CollisionID("c2", m.ID) {
		t.Fatalf("stored as %s", otherRec.ID)
	}
	if a, err := msgs.StoredAnswer(ctx, "ws", "c2", m.ID); err != nil || *a != second {
		t.Fatalf("c2's answer %+v %v", a, err)
	}
	if err := msgs.CreateIncoming(ctx, "ws", "c2", m.ID, store.NewRecord(other, "", nil, ""), store.Outcome{Status: 500}); !errors.As(err, &dup) || dup.First != second {
		t.Fatalf("c2's duplicate: %v, want its own first answer", err)
	}
	if a, err := msgs.StoredAnswer(ctx, "ws", "c3", m.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a third connection sees an answer: %+v %v", a, err)
	}
	if a, err := msgs.StoredAnswer(ctx, "ws", "c1", m.ID); err != nil || *a != first {
		t.Fatalf("stored answer %+v %v", a, err)
	}
	// Envelopes that store no message keep a de-duplication record per connection.
	ack := store.Outcome{Status: 200, Body: `{"status":"DELIVERED"}`}
	for _, conn := range []string{"c1", "c2"} {
		if err := msgs.CreateIncoming(ctx, "ws", conn, "ack-1", nil, ack); err != nil {
			t.Fatalf("%s: %v", conn, err)
		}
	}
	if err := msgs.CreateIncoming(ctx, "ws", "c1", "ack-1", nil, store.Outcome{Status: 409}); !errors.As(err, &dup) || dup.First != ack {
		t.Fatalf("duplicate ACK: %v", err)
	}
	if a, err := msgs.FirstAnswer(ctx, "", "c2", "ack-1"); err != nil || *a != ack {
		t.Fatalf("first answer %+v %v", a, err)
	}
}

// Outbox markers and deadlines put messages on their indexes until cleared.
func TestMessagesOutboxAndDeadlines(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	msgs := openStore(t).Messages
	long := time.Now().UTC().Add(-10 * time.Minute)
	owed := store.NewRecord(newMessage("ws", "c", federation.TypeCommand, federation.Outbound, long), federation.EnvCommand, []byte(`{}`), "delivery").
		WithDeadline(long.Add(time.Minute))
	fresh := store.NewRecord(newMessage("ws", "c", federation.TypeCommand, federation.Outbound, time.Now().UTC()), federation.EnvCommand, []byte(`{}`), "delivery")
	for _, r := range []*store.MessageRecord{owed, fresh} {
		if err := msgs.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := msgs.Create(ctx, owed); !errors.Is(err, store.ErrExists) {
		t.Fatalf("creating an existing id: %v", err)
	}
	due, err := msgs.DueOutbox(ctx, time.Now().Add(-time.Minute), 10)
	if err != nil || len(due) != 1 || due[0].ID != owed.ID || due[0].Outbox != "delivery" {
		t.Fatalf("due outbox %v %v", idsOf(due), err)
	}
	if err := msgs.ClearOutbox(ctx, "ws", owed.ID); err != nil {
		t.Fatal(err)
	}
	if due, _ := msgs.DueOutbox(ctx, time.Now().Add(time.Minute), 10); len(due) != 1 || due[0].ID != fresh.ID {
		t.Fatalf("after clearing: %v", idsOf(due))
	}
	late, err := msgs.DueDeadlines(ctx, time.Now(), 10)
	if err != nil || len(late) != 1 || late[0].ID != owed.ID || late[0].Deadline == nil {
		t.Fatalf("due deadlines %v %v", idsOf(late), err)
	}
	if _, err := msgs.Update(ctx, "ws", owed.ID, store.MessageUpdate{ClearDeadline: true, Step: federation.StepStamp}); err != nil {
		t.Fatal(err)
	}
	if late, _ := msgs.DueDeadlines(ctx, time.Now(), 10); len(late) != 0 {
		t.Fatalf("cleared deadline still due: %v", idsOf(late))
	}
}

func idsOf(recs []*store.MessageRecord) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

// Updates are conditional on the status; a transaction that also creates an
// existing message applies nothing.
func TestMessagesConditionalUpdates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	msgs := openStore(t).Messages
	rec := store.NewRecord(newMessage("ws", "c", federation.TypeEvent, federation.Outbound, time.Now().UTC()), federation.EnvEvent, []byte(`{}`), "")
	if err := msgs.Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	two := 2
	got, err := msgs.Update(ctx, "ws", rec.ID, store.MessageUpdate{Step: federation.StepRetry, Attempts: &two})
	if err != nil || got.Status != federation.MsgRetrying || got.Attempts != 2 {
		t.Fatalf("update %+v %v", got, err)
	}
	if _, err := msgs.Update(ctx, "ws", rec.ID, store.MessageUpdate{Step: federation.StepFail.Only(federation.MsgPending)}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("update from the wrong status: %v", err)
	}
	if _, err := msgs.Update(ctx, "ws", rec.ID, store.MessageUpdate{Step: federation.StepFail}); err != nil {
		t.Fatal(err)
	}
	cur, err := msgs.Update(ctx, "ws", rec.ID, store.MessageUpdate{Step: federation.StepDeliver})
	if !errors.Is(err, store.ErrConflict) || cur.Status != federation.MsgFailed {
		t.Fatalf("a final status changed: %v %v", cur, err)
	}
	if _, err := msgs.Update(ctx, "other", rec.ID, store.MessageUpdate{Step: federation.StepFail}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("update through another workspace: %v", err)
	}
	cmd := store.NewRecord(newMessage("ws", "c", federation.TypeCommand, federation.Inbound, time.Now().UTC()), "", nil, "dispatch")
	if err := msgs.Create(ctx, cmd); err != nil {
		t.Fatal(err)
	}
	// The response already exists: the command must stay as it was.
	if err := msgs.UpdateWith(ctx, "ws", cmd.ID, store.MessageUpdate{Step: federation.StepComplete, ClearOutbox: true}, rec); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("UpdateWith creating an existing message: %v", err)
	}
	if stored, _ := msgs.Get(ctx, "ws", cmd.ID); stored.Status != federation.MsgPending || stored.Outbox != "dispatch" {
		t.Fatalf("half-applied transaction: %+v", stored)
	}
}

// Lists show one type of a workspace, newest first, filtered within the
// workspace's partition, with cursors; a window reads oldest first.
func TestMessagesListsAndWindows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	msgs := openStore(t).Messages
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Millisecond)
	var events []string
	for i := range 6 {
		direction := federation.Outbound
		if i%3 == 0 {
			direction = federation.Inbound
		}
		m := newMessage("ws", "c", federation.TypeEvent, direction, base.Add(time.Duration(i)*time.Minute))
		m.EventType = "task.created"
		if err := msgs.Create(ctx, store.NewRecord(m, federation.EnvEvent, nil, "")); err != nil {
			t.Fatal(err)
		}
		events = append(events, m.ID)
	}
	other := newMessage("ws", "c", federation.TypeCommand, federation.Outbound, base)
	if err := msgs.Create(ctx, store.NewRecord(other, federation.EnvCommand, nil, "")); err != nil {
		t.Fatal(err)
	}
	var got []string
	cursor := ""
	for {
		page, err := msgs.List(ctx, "ws", store.ListFilter{Type: federation.TypeEvent}, 4, cursor)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range page.Items {
			got = append(got, m.ID)
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	want := fmt.Sprint([]string{events[5], events[4], events[3], events[2], events[1], events[0]})
	if fmt.Sprint(got) != want {
		t.Fatalf("events newest first %v, want %v", got, want)
	}
	in, err := msgs.List(ctx, "ws", store.ListFilter{Type: federation.TypeEvent, Direction: federation.Inbound}, 100, "")
	if err != nil || len(in.Items) != 2 {
		t.Fatalf("INBOUND filter: %d %v", len(in.Items), err)
	}
	if _, err := msgs.List(ctx, "other-ws", store.ListFilter{Type: federation.TypeEvent}, 4, mustCursor(t, msgs)); !errors.Is(err, store.ErrBadCursor) {
		t.Fatalf("foreign cursor: %v", err)
	}
	// The event log: published events, oldest first, in pages, counted by pattern.
	var published []string
	for i, typ := range []string{"task.created", "task.status.changed", "project.created", "task.created"} {
		m := newMessage("ws", "", federation.TypePublished, federation.Outbound, base.Add(time.Duration(i)*time.Minute))
		m.EventType = typ
		if err := msgs.Create(ctx, store.NewRecord(m, "", nil, "")); err != nil {
			t.Fatal(err)
		}
		published = append(published, m.ID)
	}
	var logged []string
	cursor = ""
	for {
		recs, next, err := msgs.EventLog(ctx, "ws", base, base.Add(4*time.Minute), 3, cursor)
		if err != nil {
			t.Fatal(err)
		}
		logged = append(logged, idsOf(recs)...)
		if cursor = next; cursor == "" {
			break
		}
	}
	if fmt.Sprint(logged) != fmt.Sprint(published) {
		t.Fatalf("event log %v, want oldest first %v", logged, published)
	}
	for _, tt := range []struct {
		patterns []string
		want     int
	}{{[]string{"task.*"}, 3}, {[]string{"task.created"}, 2}, {[]string{"project.*", "task.status.changed"}, 2}, {nil, 0}} {
		if n, err := msgs.CountEvents(ctx, "ws", base, base.Add(time.Hour), tt.patterns); err != nil || n != tt.want {
			t.Errorf("count %v: %d %v, want %d", tt.patterns, n, err, tt.want)
		}
	}
}

func mustCursor(t *testing.T, msgs *store.Messages) string {
	t.Helper()
	page, err := msgs.List(context.Background(), "ws", store.ListFilter{Type: federation.TypeEvent}, 1, "")
	if err != nil || page.NextCursor == "" {
		t.Fatalf("no cursor: %v", err)
	}
	return page.NextCursor
}

// Batched writes and reads cover more items than one call takes.
func TestMessagesBatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	msgs := openStore(t).Messages
	var recs []*store.MessageRecord
	var all []string
	for range 60 {
		r := store.NewRecord(newMessage("ws", "c", federation.TypeEvent, federation.Outbound, time.Now().UTC()), federation.EnvEvent, nil, "")
		recs = append(recs, r)
		all = append(all, r.ID)
	}
	if err := msgs.BatchCreate(ctx, recs); err != nil {
		t.Fatal(err)
	}
	found, err := msgs.Existing(ctx, "ws", append(all, "missing"))
	if err != nil || len(found) != 60 {
		t.Fatalf("found %d of 60: %v", len(found), err)
	}
	if found, _ := msgs.Existing(ctx, "other", all[:5]); len(found) != 0 {
		t.Fatal("another workspace sees the messages")
	}
}

// An item that would pass DynamoDB's 400 KB limit is refused before it is
// written, so callers can answer payload_too_large instead of failing.
func TestMessagesTooLarge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	msgs := openStore(t).Messages
	m := newMessage("ws", "c", federation.TypeEvent, federation.Inbound, time.Now().UTC())
	m.Payload = []byte(`{"p":"` + strings.Repeat("x", 200*1024) + `"}`)
	rec := store.NewRecord(m, "", nil, "")
	big := store.Outcome{Status: 200, Body: strings.Repeat("y", 200*1024)}
	if err := msgs.CreateIncoming(ctx, "ws", "c", m.ID, rec, big); !errors.Is(err, store.ErrTooLarge) {
		t.Fatalf("oversized message: %v, want ErrTooLarge", err)
	}
	if _, err := msgs.Get(ctx, "ws", m.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the refused message was stored: %v", err)
	}
	if err := msgs.CreateIncoming(ctx, "ws", "c", m.ID, rec, store.Outcome{Status: 200, Body: "{}"}); err != nil {
		t.Fatalf("the same message with a small answer: %v", err)
	}
}
