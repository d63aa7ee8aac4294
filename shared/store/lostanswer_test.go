package store_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/localaws/awstest"
	"github.com/fedgate/fedgate/shared/store"
)

// flakyNetwork sits between the SDK and moto_server. For the next request of
// operation op it either loses the answer (the request reaches the server
// and is applied, the SDK sees a reset connection) or refuses the
// connection (nothing is sent), first running meanwhile (another writer).
// The SDK retries both.
type flakyNetwork struct {
	op        string // as in X-Amz-Target, e.g. DynamoDB_20120810.PutItem
	armed     bool
	refuse    bool
	meanwhile func()
	sent      int // requests of op that reached the server
}

func (f *flakyNetwork) Do(req *http.Request) (*http.Response, error) {
	mine := req.Header.Get("X-Amz-Target") == f.op
	if mine && f.armed && f.refuse {
		f.armed = false
		if f.meanwhile != nil {
			f.meanwhile()
		}
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	}
	resp, err := http.DefaultClient.Do(req)
	if !mine || err != nil {
		return resp, err
	}
	f.sent++
	if !f.armed {
		return resp, nil
	}
	f.armed = false
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return nil, &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
}

var _ aws.HTTPClient = (*flakyNetwork)(nil)

// flakyStore opens fresh tables through network, and the same tables
// through a sound one for a concurrent writer.
func flakyStore(t *testing.T, network *flakyNetwork) (flaky, other *store.Store) {
	t.Helper()
	cfg := awstest.Config(t)
	names := store.PrefixedNames(awstest.Prefix(t))
	if err := store.CreateTables(context.Background(), cfg, names); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.DeleteTables(context.Background(), cfg, names) })
	retention := store.Retention{Messages: time.Hour, Answers: time.Hour}
	other = store.Open(cfg, names, retention)
	cfg.HTTPClient = network
	return store.Open(cfg, names, retention), other
}

// A write whose first attempt was applied but whose answer was lost
// succeeds, not "already exists" or "conflict": the SDK's retry of a PutItem
// finds the item exactly as written, a retried conditional update finds the
// item stamped with its own updatedAt (and is not applied twice), and a
// retried transaction carries the same ClientRequestToken and gets the first
// answer (moto is made to honour it as DynamoDB does), and a retried take of
// an in-flight slot holds the slot.
func TestWritesAfterLostAnswer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	network := &flakyNetwork{}
	st, _ := flakyStore(t, network)
	now := time.Now().UTC()
	msg := store.NewRecord(newMessage("ws", "c", federation.TypeEvent, federation.Outbound, now), "", nil, "")
	conn := newConn("ws", "peer", federation.StatusPending)
	conn.Direction = federation.Outbound // accepting it is one UpdateItem (an inbound one's counters make it a transaction)
	attempt := federation.Attempt{Attempt: 1, At: now, Outcome: "retrying"}

	for _, tt := range []struct {
		name, op string
		write    func() error
		check    func() error
	}{
		{"message", "PutItem", func() error { return st.Messages.Create(ctx, msg) }, func() error {
			_, err := st.Messages.Get(ctx, "ws", msg.ID)
			return err
		}},
		{"invite", "PutItem", func() error { return st.Invites.Create(ctx, "tok", "ws", "admin", now.Add(time.Hour)) }, func() error {
			_, err := st.Invites.Workspace(ctx, "tok", now)
			return err
		}},
		// The status condition still holds after the first attempt: only
		// the stamp condition keeps the attempt from being logged twice.
		{"message update that keeps the status", "UpdateItem", func() error {
			_, err := st.Messages.Update(ctx, "ws", msg.ID, store.MessageUpdate{Step: federation.StepHold, Attempt: &attempt})
			return err
		}, func() error {
			rec, err := st.Messages.Get(ctx, "ws", msg.ID)
			if err == nil && len(rec.AttemptLog) != 1 {
				err = fmt.Errorf("attempt log %+v, want the one attempt", rec.AttemptLog)
			}
			return err
		}},
		{"message update", "UpdateItem", func() error {
			rec, err := st.Messages.Update(ctx, "ws", msg.ID, store.MessageUpdate{Step: federation.StepDeliver.Only(federation.MsgPending)})
			if err == nil && rec.Status != federation.MsgDelivered {
				err = fmt.Errorf("updated record is %s", rec.Status)
			}
			return err
		}, func() error {
			rec, err := st.Messages.Get(ctx, "ws", msg.ID)
			if err == nil && rec.Status != federation.MsgDelivered {
				err = fmt.Errorf("stored record is %s", rec.Status)
			}
			return err
		}},
		{"in-flight slot", "PutItem", func() error {
			if _, ok, err := st.Limits.Acquire(ctx, "peer", 1, "delivery-1", now, now.Add(time.Minute)); err != nil || !ok {
				return fmt.Errorf("acquire: ok %v, %v", ok, err)
			}
			return nil
		}, func() error {
			if _, ok, err := st.Limits.Acquire(ctx, "peer", 1, "delivery-2", now, now.Add(time.Minute)); err != nil || ok {
				return fmt.Errorf("the one slot was free for another delivery (ok %v, %v)", ok, err)
			}
			return nil
		}},
		{"connection", "TransactWriteItems", func() error { return st.Connections.Create(ctx, conn) }, func() error {
			_, err := st.Connections.Get(ctx, "ws", conn.ID)
			return err
		}},
		{"connection transition", "UpdateItem", func() error {
			_, err := st.Connections.Transition(ctx, "ws", conn.ID, store.ConnectionChange{To: federation.StatusActive})
			return err
		}, func() error {
			c, err := st.Connections.Get(ctx, "ws", conn.ID)
			if err == nil && c.Status != federation.StatusActive {
				err = fmt.Errorf("stored connection is %s", c.Status)
			}
			return err
		}},
	} {
		*network = flakyNetwork{op: "DynamoDB_20120810." + tt.op, armed: true}
		if err := tt.write(); err != nil {
			t.Errorf("%s: a write whose first answer was lost: %v, want success", tt.name, err)
		}
		if network.sent != 2 {
			t.Errorf("%s: %d %s requests, want 2 (the lost one and the SDK's retry)", tt.name, network.sent, tt.op)
		}
		if err := tt.check(); err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
}

// Only a write of this call's own can be taken for it: the same item
// written again, or by another writer while this call's first attempt was
// refused (certainly not applied), is a collision, as is another item under
// a taken key.
func TestCollisionsStayCollisions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	network := &flakyNetwork{}
	st, other := flakyStore(t, network)
	now := time.Now().UTC()
	msg := store.NewRecord(newMessage("ws", "c", federation.TypeEvent, federation.Outbound, now), "", nil, "")
	if err := st.Messages.Create(ctx, msg); err != nil {
		t.Fatal(err)
	}
	if err := st.Messages.Create(ctx, msg); !errors.Is(err, store.ErrExists) {
		t.Errorf("the same message created again: %v, want ErrExists", err)
	}
	twin := store.NewRecord(newMessage("ws", "c", federation.TypeEvent, federation.Outbound, now), "", nil, "")
	*network = flakyNetwork{op: "DynamoDB_20120810.PutItem", armed: true, refuse: true, meanwhile: func() {
		if err := other.Messages.Create(ctx, twin); err != nil {
			t.Errorf("the other writer: %v", err)
		}
	}}
	if err := st.Messages.Create(ctx, twin); !errors.Is(err, store.ErrExists) {
		t.Errorf("an identical message another writer stored while this call's first attempt was refused: %v, want ErrExists", err)
	}
	if rec, err := st.Messages.Update(ctx, "ws", msg.ID, store.MessageUpdate{Step: federation.StepDeliver.Only(federation.MsgPending)}); err != nil || rec.Status != federation.MsgDelivered {
		t.Fatalf("update: %v", err)
	}
	if rec, err := st.Messages.Update(ctx, "ws", msg.ID, store.MessageUpdate{Step: federation.StepDeliver.Only(federation.MsgPending)}); !errors.Is(err, store.ErrConflict) || rec == nil || rec.Status != federation.MsgDelivered {
		t.Errorf("the same update made again: %v (%+v), want ErrConflict with the current record", err, rec)
	}
	if _, err := st.Messages.Update(ctx, "ws", "no-such-message", store.MessageUpdate{Step: federation.StepDeliver}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("update of a missing message: %v, want ErrNotFound", err)
	}
	taken := store.NewRecord(newMessage("ws", "c2", federation.TypeEvent, federation.Outbound, now), "", nil, "")
	taken.ID = msg.ID
	if err := st.Messages.Create(ctx, taken); !errors.Is(err, store.ErrExists) {
		t.Errorf("another message under a taken id: %v, want ErrExists", err)
	}
	if err := st.Invites.Create(ctx, "tok", "ws", "admin", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := st.Invites.Create(ctx, "tok", "ws-other", "admin", now.Add(time.Hour)); err == nil {
		t.Error("another invite under a taken token was stored")
	}
	conn := newConn("ws", "peer", federation.StatusPending)
	if err := st.Connections.Create(ctx, conn); err != nil {
		t.Fatal(err)
	}
	again := newConn("ws", "other", federation.StatusPending)
	again.ID = conn.ID
	if err := st.Connections.Create(ctx, again); !errors.Is(err, store.ErrExists) {
		t.Errorf("another connection under a taken id: %v, want ErrExists", err)
	}
}
