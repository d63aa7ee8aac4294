package store_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/localaws/awstest"
	"github.com/fedgate/fedgate/shared/store"
)

// loseAnswers sits between the SDK and moto_server like a flaky network: the
// next `lose` requests of operation op reach the server and are applied, but
// their answers are dropped and the SDK sees a reset connection, which it
// retries.
type loseAnswers struct {
	op         string // as in X-Amz-Target, e.g. DynamoDB_20120810.PutItem
	lose, sent atomic.Int32
}

func (l *loseAnswers) Do(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultClient.Do(req)
	if req.Header.Get("X-Amz-Target") != l.op {
		return resp, err
	}
	l.sent.Add(1)
	if err != nil || l.lose.Add(-1) < 0 {
		return resp, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return nil, &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
}

// A new item whose first write was applied but whose answer was lost is
// created, not "already exists": the SDK's retry of a PutItem finds the item
// exactly as written, and that is this write; a retried conditional update
// finds the item stamped with its own updatedAt; a retried transaction carries
// the same ClientRequestToken and gets the first answer (moto is made to
// honour it as DynamoDB does). A different item under the same key is still
// a collision, and so is the same item written again by a call of its own
// (a concurrent writer of an identical item).
func TestWritesAfterLostAnswer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	net := &loseAnswers{}
	cfg := awstest.Config(t)
	cfg.HTTPClient = net
	names := store.PrefixedNames(awstest.Prefix(t))
	if err := store.CreateTables(ctx, cfg, names); err != nil {
		t.Fatal(err)
	}
	st := store.Open(cfg, names, store.Retention{Messages: time.Hour, Answers: time.Hour})
	t.Cleanup(func() { _ = store.DeleteTables(context.Background(), cfg, names) })
	now := time.Now().UTC()
	msg := store.NewRecord(newMessage("ws", "c", federation.TypeEvent, federation.Outbound, now), "", nil, "")

	conn := newConn("ws", "peer", federation.StatusPending)
	conn.Direction = federation.Outbound // accepting it is one UpdateItem (an inbound one's counters make it a transaction)
	for _, tt := range []struct {
		name, op string
		create   func() error
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
		{"message update", "UpdateItem", func() error {
			rec, err := st.Messages.Update(ctx, "ws", msg.ID, store.MessageUpdate{Status: federation.MsgDelivered, From: []string{federation.MsgPending}})
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
		net.op = "DynamoDB_20120810." + tt.op
		net.sent.Store(0)
		net.lose.Store(1)
		if err := tt.create(); err != nil {
			t.Errorf("%s: a write whose first answer was lost: %v, want success", tt.name, err)
		}
		if n := net.sent.Load(); n != 2 {
			t.Errorf("%s: %d %s requests, want 2 (the lost one and the SDK's retry)", tt.name, n, tt.op)
		}
		if err := tt.check(); err != nil {
			t.Errorf("%s: not stored: %v", tt.name, err)
		}
	}

	if err := st.Messages.Create(ctx, msg); !errors.Is(err, store.ErrExists) {
		t.Errorf("the same message created again: %v, want ErrExists", err)
	}
	if rec, err := st.Messages.Update(ctx, "ws", msg.ID, store.MessageUpdate{Status: federation.MsgDelivered, From: []string{federation.MsgPending}}); !errors.Is(err, store.ErrConflict) || rec == nil || rec.Status != federation.MsgDelivered {
		t.Errorf("the same update made again: %v (%+v), want ErrConflict with the current record", err, rec)
	}
	if _, err := st.Messages.Update(ctx, "ws", "no-such-message", store.MessageUpdate{Status: federation.MsgDelivered}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("update of a missing message: %v, want ErrNotFound", err)
	}
	other := store.NewRecord(newMessage("ws", "c2", federation.TypeEvent, federation.Outbound, now), "", nil, "")
	other.ID = msg.ID
	if err := st.Messages.Create(ctx, other); !errors.Is(err, store.ErrExists) {
		t.Errorf("another message under a taken id: %v, want ErrExists", err)
	}
	if err := st.Invites.Create(ctx, "tok", "ws-other", "admin", now.Add(time.Hour)); err == nil {
		t.Error("another invite under a taken token was stored")
	}
	again := newConn("ws", "other", federation.StatusPending)
	again.ID = conn.ID
	if err := st.Connections.Create(ctx, again); !errors.Is(err, store.ErrExists) {
		t.Errorf("another connection under a taken id: %v, want ErrExists", err)
	}
}

var _ aws.HTTPClient = (*loseAnswers)(nil)
