package operations_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/fedgate/fedgate/shared/app"
	"github.com/fedgate/fedgate/shared/app/apptest"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/ids"
	"github.com/fedgate/fedgate/shared/queue"
	"github.com/fedgate/fedgate/shared/store"
)

// peerAnswering stands in for a remote instance that answers every delivery
// with one status (a peer is outside this instance; its answers are the input).
func peerAnswering(t *testing.T, status int) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"error":{"code":"gone","message":"this instance was retired","requestId":"r"}}`))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func activeConnection(t *testing.T, a *app.App, url string, health federation.Health) *federation.Connection {
	t.Helper()
	now := time.Now().UTC()
	c := federation.Connection{ID: ids.New(), WorkspaceID: "ws-1", RemoteInstanceID: "peer", RemoteURL: url,
		Direction: federation.Outbound, Status: federation.StatusActive, Health: health, CreatedAt: now, UpdatedAt: now}
	if err := a.Store.Connections.Import(context.Background(), []federation.Connection{c}); err != nil {
		t.Fatal(err)
	}
	return &c
}

func eventDelivery(t *testing.T, a *app.App, conn *federation.Connection) *store.MessageRecord {
	t.Helper()
	now := time.Now().UTC()
	rec := store.NewRecord(federation.Message{
		ID: ids.New(), WorkspaceID: "ws-1", ConnectionID: conn.ID, MessageType: federation.TypeEvent,
		Direction: federation.Outbound, Status: federation.MsgPending, EventType: "task.created", CreatedAt: now, UpdatedAt: now,
	}, federation.EnvEvent, []byte(`{"eventType":"task.created","payload":{}}`), "")
	if err := a.Store.Messages.Create(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

// A peer answering 410 Gone is suspended at once, the delivery fails without
// retries, and federation.connection.suspended is recorded as an operator
// event of its workspace and of the instance, never fanned out to peers. A
// peer failing for five days is suspended too.
func TestDeliverSuspendsUnhealthyPeers(t *testing.T) {
	ctx := context.Background()
	longAgo := time.Now().Add(-6 * 24 * time.Hour)
	tests := []struct {
		name     string
		status   int
		health   federation.Health
		msgFinal federation.MsgStatus
	}{
		{"410 Gone", http.StatusGone, federation.Health{Circuit: federation.CircuitClosed}, federation.MsgFailed},
		{"failing for five days", http.StatusServiceUnavailable,
			federation.Health{Circuit: federation.CircuitClosed, ConsecutiveFailures: 3, FailingSince: &longAgo}, federation.MsgRetrying},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := apptest.New(t)
			conn := activeConnection(t, a, peerAnswering(t, tt.status), tt.health)
			rec := eventDelivery(t, a, conn)
			if err := a.Deliverer.Handle(ctx, queue.Delivery, queue.Job{WorkspaceID: "ws-1", MessageID: rec.ID}); err != nil {
				t.Fatal(err)
			}
			got, _ := a.Store.Connections.Get(ctx, "ws-1", conn.ID)
			if got.Status != federation.StatusSuspended || got.Reason == "" {
				t.Fatalf("connection %s (%q), want SUSPENDED with a reason", got.Status, got.Reason)
			}
			msg, _ := a.Store.Messages.Get(ctx, "ws-1", rec.ID)
			if msg.Status != tt.msgFinal || msg.Attempts != 1 {
				t.Fatalf("delivery %s after %d attempts, want %s", msg.Status, msg.Attempts, tt.msgFinal)
			}
			for _, ws := range []string{"ws-1", ""} {
				ops, err := a.Operations.List(ctx, ws, 10, "")
				if err != nil || len(ops.Items) != 1 || ops.Items[0].Type != federation.OpConnectionSuspended || ops.Items[0].ConnectionID != conn.ID {
					t.Fatalf("operator events of %q: %+v %v", ws, ops.Items, err)
				}
			}
			if fannedOut(t, a) {
				t.Fatal("the operator event was published to peers")
			}
		})
	}
}

// fannedOut reports whether a fan-out job is queued (an event published).
func fannedOut(t *testing.T, a *app.App) bool {
	t.Helper()
	out, err := a.SQS.ReceiveMessage(context.Background(), receiveInput(a.Config.Queues[queue.Fanout]))
	if err != nil {
		t.Fatal(err)
	}
	return len(out.Messages) > 0
}

func receiveInput(url string) *sqs.ReceiveMessageInput {
	return &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: 1}
}

// Every job that reaches a dead-letter queue is an operator event (the
// metric the dead-letter alarm watches): a delivery's, marked FAILED, and a
// catch-up's, which has no message of its own to mark.
func TestDeadLettered(t *testing.T) {
	ctx := context.Background()
	a := apptest.New(t)
	conn := activeConnection(t, a, "https://peer.invalid", federation.Health{Circuit: federation.CircuitClosed})
	rec := eventDelivery(t, a, conn)
	since := time.Now().Add(-time.Hour)
	for _, job := range []queue.Job{
		{WorkspaceID: "ws-1", MessageID: rec.ID},
		{WorkspaceID: "ws-1", MessageID: ids.New(), Kind: queue.KindCatchUp, ConnectionID: conn.ID, Since: since.UnixMilli(), Until: time.Now().UnixMilli()},
		{WorkspaceID: "ws-1", MessageID: ids.New()}, // its message expired: nothing to mark
	} {
		if err := a.Deliverer.DeadLettered(ctx, job); err != nil {
			t.Fatal(err)
		}
	}
	msg, _ := a.Store.Messages.Get(ctx, "ws-1", rec.ID)
	if msg.Status != federation.MsgFailed || msg.DeadLetteredAt == nil {
		t.Fatalf("the dead-lettered delivery is %s (dead-lettered at %v)", msg.Status, msg.DeadLetteredAt)
	}
	ops, err := a.Operations.List(ctx, "ws-1", 10, "")
	if err != nil || len(ops.Items) != 2 {
		t.Fatalf("operator events %+v %v, want 2", ops.Items, err)
	}
	byMessage := map[string]federation.Operation{}
	for _, op := range ops.Items {
		if op.Type != federation.OpDeliveryExhausted || op.ConnectionID != conn.ID {
			t.Errorf("operator event %+v", op)
		}
		byMessage[op.MessageID] = op
	}
	if _, ok := byMessage[rec.ID]; !ok {
		t.Errorf("no operator event names the delivery: %+v", ops.Items)
	}
	if catchUp, ok := byMessage[""]; !ok || !strings.Contains(string(catchUp.Detail), `"job":"catchup"`) {
		t.Errorf("no operator event for the catch-up: %+v", ops.Items)
	}
}

// A peer's circuit changes are operator events: opening records
// federation.peer.failing, closing again federation.peer.recovered. A new
// connection's first delivery is no recovery (its circuit was never open).
func TestCircuitChangesAreOperatorEvents(t *testing.T) {
	ctx := context.Background()
	past := time.Now().Add(-time.Minute)
	tests := []struct {
		name   string
		status int
		health federation.Health
		want   []string
	}{
		{"a new connection delivers", http.StatusAccepted, federation.Health{}, nil},
		{"a closed circuit delivers", http.StatusAccepted, federation.Health{Circuit: federation.CircuitClosed, ConsecutiveFailures: 2}, nil},
		{"the circuit opens", http.StatusServiceUnavailable,
			federation.Health{Circuit: federation.CircuitClosed, ConsecutiveFailures: 9}, []string{federation.OpPeerFailing}},
		{"the half-open probe succeeds", http.StatusAccepted,
			federation.Health{Circuit: federation.CircuitOpen, ConsecutiveFailures: 10, OpenUntil: &past, OpenFor: 1000}, []string{federation.OpPeerRecovered}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := apptest.New(t)
			conn := activeConnection(t, a, peerAnswering(t, tt.status), tt.health)
			rec := eventDelivery(t, a, conn)
			if err := a.Deliverer.Handle(ctx, queue.Delivery, queue.Job{WorkspaceID: "ws-1", MessageID: rec.ID}); err != nil {
				t.Fatal(err)
			}
			ops, err := a.Operations.List(ctx, "ws-1", 10, "")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, op := range ops.Items {
				got = append(got, op.Type)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("operator events %v, want %v", got, tt.want)
			}
		})
	}
}

// A job dead-lettered after its message was delivered (its last receive
// outlived the others) leaves the message DELIVERED, only stamped, and
// raises no operator event: nothing needs anyone's attention.
func TestDeadLetteredAfterDelivery(t *testing.T) {
	ctx := context.Background()
	a := apptest.New(t)
	conn := activeConnection(t, a, "https://peer.invalid", federation.Health{Circuit: federation.CircuitClosed})
	rec := eventDelivery(t, a, conn)
	if _, err := a.Store.Messages.Update(ctx, "ws-1", rec.ID, store.MessageUpdate{
		Step: federation.StepDeliver.Only(federation.MsgPending),
	}); err != nil {
		t.Fatal(err)
	}
	if err := a.Deliverer.DeadLettered(ctx, queue.Job{WorkspaceID: "ws-1", MessageID: rec.ID}); err != nil {
		t.Fatal(err)
	}
	msg, _ := a.Store.Messages.Get(ctx, "ws-1", rec.ID)
	if msg.Status != federation.MsgDelivered || msg.DeadLetteredAt == nil {
		t.Fatalf("the delivery is %s (dead-lettered at %v), want DELIVERED and stamped", msg.Status, msg.DeadLetteredAt)
	}
	if ops, err := a.Operations.List(ctx, "ws-1", 10, ""); err != nil || len(ops.Items) != 0 {
		t.Fatalf("operator events %+v %v, want none", ops.Items, err)
	}
}
