package federation

import (
	"slices"
	"testing"
	"time"
)

// Every step of the message lifecycle is a move the table allows, from each
// status it may start from; no step starts from a final status except the
// bookkeeping stamp.
func TestStepsFollowTheLifecycle(t *testing.T) {
	for _, st := range Steps {
		if len(st.From) == 0 {
			t.Errorf("step %s starts from nothing", st.Name)
		}
		for _, from := range st.From {
			if st.To != "" && !CanMove(from, st.To) {
				t.Errorf("step %s moves %s → %s, which the lifecycle does not allow", st.Name, from, st.To)
			}
			if from.Final() && st.Name != StepStamp.Name {
				t.Errorf("step %s starts from the final status %s", st.Name, from)
			}
		}
	}
	for _, s := range MessageStatuses {
		if s.Final() && len(messageMoves[s]) > 0 {
			t.Errorf("final status %s has moves %v", s, messageMoves[s])
		}
	}
}

func TestMessageMoves(t *testing.T) {
	tests := []struct {
		from, to MsgStatus
		ok       bool
	}{
		{MsgPending, MsgRetrying, true},
		{MsgRetrying, MsgRetrying, true},
		{MsgRetrying, MsgPending, true}, // answered 202: its EVENT_ACK is to come
		{MsgPending, MsgDelivered, true},
		{MsgDelivered, MsgCompleted, true},
		{MsgDelivered, MsgRetrying, false},
		{MsgDelivered, MsgPending, false},
		{MsgCompleted, MsgFailed, false},
		{MsgFailed, MsgRetrying, false},
		{MsgIgnored, MsgDelivered, false},
		{MsgTimeout, MsgCompleted, false},
	}
	for _, tt := range tests {
		if got := CanMove(tt.from, tt.to); got != tt.ok {
			t.Errorf("%s → %s: %v, want %v", tt.from, tt.to, got, tt.ok)
		}
	}
}

func TestStepOnly(t *testing.T) {
	if got := StepDeadLetter.Only(MsgRetrying).From; !slices.Equal(got, []MsgStatus{MsgRetrying}) {
		t.Errorf("dead-letter only from RETRYING: %v", got)
	}
	if got := StepDeadLetter.Only(MsgDelivered).From; got != nil {
		t.Errorf("dead-letter never starts from DELIVERED, narrowed: %v", got)
	}
}

// Settled: nothing more happens to it; Sent: nothing more to send.
func TestSettledAndSent(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name          string
		m             Message
		settled, sent bool
	}{
		{"pending event", Message{MessageType: TypeEvent, Status: MsgPending}, false, false},
		{"retrying event", Message{MessageType: TypeEvent, Status: MsgRetrying}, false, false},
		{"event answered 202", Message{MessageType: TypeEvent, Status: MsgPending, DeliveredAt: &now}, false, true},
		{"delivered event", Message{MessageType: TypeEvent, Status: MsgDelivered}, true, true},
		{"failed event", Message{MessageType: TypeEvent, Status: MsgFailed}, true, true},
		{"ignored event", Message{MessageType: TypeEvent, Status: MsgIgnored}, true, true},
		{"delivered command", Message{MessageType: TypeCommand, Status: MsgDelivered}, false, true},
		{"completed command", Message{MessageType: TypeCommand, Status: MsgCompleted}, true, true},
		{"timed out command", Message{MessageType: TypeCommand, Status: MsgTimeout}, true, true},
		{"delivered DISCONNECT", Message{MessageType: EnvDisconnect, Status: MsgDelivered}, true, true},
	}
	for _, tt := range tests {
		if got := tt.m.Settled(); got != tt.settled {
			t.Errorf("%s: Settled %v, want %v", tt.name, got, tt.settled)
		}
		if got := tt.m.Sent(); got != tt.sent {
			t.Errorf("%s: Sent %v, want %v", tt.name, got, tt.sent)
		}
	}
}

func TestTruncate(t *testing.T) {
	for _, tt := range []struct {
		in   string
		n    int
		want string
	}{
		{"hello", 10, "hello"},
		{"hello", 5, "hello"},
		{"hello", 4, "hell"},
		{"héllo", 2, "h"}, // é is two bytes: never half of it
		{"héllo", 3, "hé"},
		{"日本", 4, "日"},
		{"日本", 2, ""},
		{"\xff\xfe", 1, "\xff"}, // invalid input stays as it was, cut between bytes
		{"abc", 0, ""},
	} {
		if got := Truncate(tt.in, tt.n); got != tt.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

// Receives is the one rule for which subscription gets which event.
func TestSubscriptionReceives(t *testing.T) {
	filter, err := ParseFilter([]byte(`{"projectId": ["p-1"]}`))
	if err != nil {
		t.Fatal(err)
	}
	p1 := NewEvent("task.created", []byte(`{"projectId": "p-1"}`))
	p2 := NewEvent("task.created", []byte(`{"projectId": "p-2"}`))
	for _, tt := range []struct {
		name string
		sub  Subscription
		ev   *Event
		want bool
	}{
		{"exact type", Subscription{EventType: "task.created", IsActive: true}, p1, true},
		{"pattern", Subscription{EventType: "task.*", IsActive: true}, p1, true},
		{"other type", Subscription{EventType: "project.*", IsActive: true}, p1, false},
		{"inactive", Subscription{EventType: "task.created"}, p1, false},
		{"filter selects", Subscription{EventType: "task.*", IsActive: true, Filter: filter}, p1, true},
		{"filter refuses", Subscription{EventType: "task.*", IsActive: true, Filter: filter}, p2, false},
		{"filter on an undecodable payload", Subscription{EventType: "task.*", IsActive: true, Filter: filter}, NewEvent("task.created", []byte(`{`)), false},
	} {
		if got := tt.sub.Receives(tt.ev); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}
