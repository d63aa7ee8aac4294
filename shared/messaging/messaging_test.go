package messaging_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fedgate/fedgate/shared/app/apptest"
	"github.com/fedgate/fedgate/shared/config"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/ids"
	"github.com/fedgate/fedgate/shared/messaging"
	"github.com/fedgate/fedgate/shared/queue"
	"github.com/fedgate/fedgate/shared/store"
)

// A user's command is validated before anything is stored: its type, its
// payload, credentials never cross, and only on the caller's ACTIVE connections.
func TestCommandIsValidated(t *testing.T) {
	ctx := context.Background()
	a := apptest.New(t)
	active := apptest.Connection(t, a, "ws", federation.StatusActive, "")
	suspended := apptest.Connection(t, a, "ws", federation.StatusSuspended, "")
	tests := []struct {
		name string
		ws   string
		in   messaging.CommandInput
		code federation.Code
	}{
		{"no connection", "ws", messaging.CommandInput{CommandType: "agent.status"}, federation.CodeValidation},
		{"bad type", "ws", messaging.CommandInput{ConnectionID: active.ID, CommandType: "Agent Status"}, federation.CodeValidation},
		{"one word", "ws", messaging.CommandInput{ConnectionID: active.ID, CommandType: "status"}, federation.CodeValidation},
		{"payload not an object", "ws", messaging.CommandInput{ConnectionID: active.ID, CommandType: "agent.status", Payload: json.RawMessage(`[1]`)}, federation.CodeValidation},
		{"credentials", "ws", messaging.CommandInput{ConnectionID: active.ID, CommandType: "credentials.read"}, federation.CodeCommandNotAllowed},
		{"suspended", "ws", messaging.CommandInput{ConnectionID: suspended.ID, CommandType: "agent.status"}, federation.CodeNotActive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := a.Messaging.Command(ctx, tt.ws, tt.in); !federation.HasCode(err, tt.code) {
				t.Fatalf("err %v, want %s", err, tt.code)
			}
		})
	}
	if _, err := a.Messaging.Command(ctx, "other-ws", messaging.CommandInput{ConnectionID: active.ID, CommandType: "agent.status"}); err == nil {
		t.Fatal("another workspace sent a command on the connection")
	}
	page, _ := a.Messaging.List(ctx, "ws", store.ListFilter{Type: federation.TypeCommand}, 10, "")
	if len(page.Items) != 0 {
		t.Fatalf("refused commands were stored: %d", len(page.Items))
	}
	msg, err := a.Messaging.Command(ctx, "ws", messaging.CommandInput{ConnectionID: active.ID, CommandType: "agent.status", Payload: json.RawMessage(`{"agentId":"a1"}`)})
	if err != nil || msg.Status != federation.MsgPending || msg.Direction != federation.Outbound {
		t.Fatalf("valid command: %+v %v", msg, err)
	}
}

// The dispatcher runs an accepted command on the platform backend, retries
// while the backend is busy, then completes it and queues its
// COMMAND_RESPONSE in the same write.
func TestDispatchRetriesThenAnswers(t *testing.T) {
	ctx := context.Background()
	var calls atomic.Int32
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte(`{"success":true,"data":{"done":1}}`))
	}))
	t.Cleanup(backend.Close)
	a := apptest.New(t, func(c *config.Config) {
		c.CommandBackendURL = backend.URL
		c.Retry = federation.RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: time.Millisecond, MaxAttempts: 5, MaxAge: time.Hour}
	})
	conn := apptest.Connection(t, a, "ws", federation.StatusActive, "")
	now := time.Now().UTC()
	cmd := store.NewRecord(federation.Message{
		ID: ids.New(), WorkspaceID: "ws", ConnectionID: conn.ID, MessageType: federation.TypeCommand, Direction: federation.Inbound,
		Status: federation.MsgPending, CommandType: "tasks.create", Payload: json.RawMessage(`{}`), CreatedAt: now, UpdatedAt: now,
	}, "", nil, queue.Dispatch)
	if err := a.Store.Messages.Create(ctx, cmd); err != nil {
		t.Fatal(err)
	}
	job := queue.Job{WorkspaceID: "ws", MessageID: cmd.ID}
	if err := a.Messaging.Dispatch(ctx, job); err != nil {
		t.Fatal(err)
	}
	if rec, _ := a.Store.Messages.Get(ctx, "ws", cmd.ID); rec.Status != federation.MsgRetrying || rec.Attempts != 1 {
		t.Fatalf("after a busy backend: %s, %d attempts", rec.Status, rec.Attempts)
	}
	for range 2 { // the answer, then a redelivered job that must change nothing
		if err := a.Messaging.Dispatch(ctx, job); err != nil {
			t.Fatal(err)
		}
	}
	rec, _ := a.Store.Messages.Get(ctx, "ws", cmd.ID)
	if rec.Status != federation.MsgCompleted || rec.Response == nil || string(rec.Response.Data) != `{"done":1}` {
		t.Fatalf("command %s %+v", rec.Status, rec.Response)
	}
	responses, _ := a.Store.Messages.Outgoing(ctx, "ws", conn.ID, federation.EnvCommandResponse)
	if len(responses) != 1 || calls.Load() != 2 {
		t.Fatalf("%d COMMAND_RESPONSEs after %d backend calls, want 1 after 2", len(responses), calls.Load())
	}
}

// A command without a response by its deadline ends as TIMEOUT; one that
// got its response is left alone.
func TestTimeouts(t *testing.T) {
	ctx := context.Background()
	a := apptest.New(t, func(c *config.Config) { c.CommandTimeout = time.Millisecond })
	conn := apptest.Connection(t, a, "ws", federation.StatusActive, "")
	waiting, err := a.Messaging.SendCommand(ctx, conn, "agent.status", json.RawMessage(`{"agentId":"a"}`))
	if err != nil {
		t.Fatal(err)
	}
	answered, _ := a.Messaging.SendCommand(ctx, conn, "agent.status", json.RawMessage(`{"agentId":"b"}`))
	if _, err := a.Store.Messages.Update(ctx, "ws", answered.ID, store.MessageUpdate{Step: federation.StepComplete}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	if err := a.Messaging.Timeouts(ctx); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]federation.MsgStatus{waiting.ID: federation.MsgTimeout, answered.ID: federation.MsgCompleted} {
		got, err := a.Messaging.Get(ctx, "ws", federation.TypeCommand, id, 0)
		if err != nil || got.Status != want {
			t.Errorf("%s: %v %v, want %s", id, got.Status, err, want)
		}
	}
	if due, _ := a.Store.Messages.DueDeadlines(ctx, time.Now(), 10); len(due) != 0 {
		t.Fatalf("%d commands still on the deadline index", len(due))
	}
}
