package delivery

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/peer"
	"github.com/fedgate/fedgate/shared/queue"
	"github.com/fedgate/fedgate/shared/store"
)

// settle records an attempt's outcome and decides what comes next:
// delivered, refused for good, or another try after a backoff.
func (dl *Deliverer) settle(ctx context.Context, w *work, o outcome) error {
	if o.ok {
		dl.recordHealth(ctx, w.conn, true, o.at)
		w.log.InfoContext(ctx, "delivered")
		return dl.succeed(ctx, w, o)
	}
	if o.reply != nil && o.reply.Status == http.StatusGone {
		dl.suspend(ctx, w.conn, "peer answered 410 Gone")
	}
	if !o.retry {
		dl.recordHealth(ctx, w.conn, true, o.at) // the peer answered: it is alive
		w.log.WarnContext(ctx, "rejected by the peer; not retried", "error", o.err)
		return dl.failAfter(ctx, w, o.n, o.err, o.record)
	}
	return dl.retry(ctx, w, o)
}

// retry schedules the next try after a failed attempt, or ends the message
// when its budget is spent.
func (dl *Deliverer) retry(ctx context.Context, w *work, o outcome) error {
	var retryAfter time.Duration
	if o.reply != nil {
		retryAfter = o.reply.RetryAfter
	}
	if o.reply != nil && o.reply.Status == http.StatusTooManyRequests {
		// The peer is alive and asks to slow down: its health is not
		// touched, and its other deliveries wait as long as this one.
		if retryAfter > 0 {
			if err := dl.d.Connections.Pause(ctx, w.conn.WorkspaceID, w.conn.ID, o.at.Add(retryAfter)); err != nil {
				w.log.WarnContext(ctx, "peer's pace not recorded", "error", err.Error())
			}
		}
	} else {
		dl.recordHealth(ctx, w.conn, false, o.at)
	}
	next := dl.d.Policy.Next(o.n, w.rec.CreatedAt.Add(w.rec.Held), o.at, retryAfter, dl.d.Random)
	if next.Exhausted {
		w.log.WarnContext(ctx, "retry budget spent", "error", o.err)
		dl.d.Metrics.Ended(peer.OriginOf(w.conn.RemoteURL), o.n)
		w.rec.Attempts = o.n
		return dl.exhaust(ctx, w, o.err, o.record)
	}
	w.log.InfoContext(ctx, "delivery failed; retrying", "error", o.err, "errorClass", o.class, "delayMs", next.Delay.Milliseconds())
	if _, err := dl.d.Messages.Update(ctx, w.rec.WorkspaceID, w.rec.ID, store.MessageUpdate{
		Step: federation.StepRetry, Attempts: &o.n, NextAttemptAt: &next.At, Error: &o.err, Attempt: o.record,
	}); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil // a concurrent duplicate job already finished it
		}
		return err
	}
	return dl.d.Jobs.Send(ctx, w.queue, w.job.Retry(next.At, next.Delay), next.Delay)
}

// wait sends the job back to wait without an attempt, recording a "held"
// attempt unless the last one recorded is held already (a long wait is one
// record, not one per look). A held wait is added to the time the retry
// horizon leaves out; a peer's own 429 pace is not (its horizon runs).
func (dl *Deliverer) wait(ctx context.Context, w *work, v verdict) error {
	dl.d.Metrics.Delivery(peer.OriginOf(w.conn.RemoteURL), federation.AttemptHeld)
	rec := w.rec
	u := store.MessageUpdate{Step: federation.StepHold}
	if v.held {
		held := rec.Held + v.wait
		u.Held = &held
	}
	if n := len(rec.AttemptLog); n < store.MaxAttemptLog && (n == 0 || rec.AttemptLog[n-1].Outcome != federation.AttemptHeld) {
		u.Attempt = &federation.Attempt{Attempt: rec.Attempts + 1, At: dl.d.Now().UTC(), Outcome: federation.AttemptHeld, Error: v.why}
	}
	if u.Held != nil || u.Attempt != nil {
		if _, err := dl.d.Messages.Update(ctx, rec.WorkspaceID, rec.ID, u); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return nil // finished meanwhile
			}
			return err
		}
	}
	return dl.d.Jobs.Send(ctx, w.queue, w.job.Retry(dl.d.Now().Add(v.wait), v.wait), v.wait)
}

// succeed records a delivery the peer took: DELIVERED, or for an EVENT
// answered 202, waiting for its EVENT_ACK until the ACK deadline.
func (dl *Deliverer) succeed(ctx context.Context, w *work, o outcome) error {
	now := dl.d.Now().UTC()
	empty := ""
	u := store.MessageUpdate{
		Step: federation.StepDeliver, Attempts: &o.n, ClearNext: true, DeliveredAt: &now, Response: o.ack,
		Attempt: o.record, Error: &empty,
	}
	if o.awaitAck {
		deadline := now.Add(dl.d.AckDeadline)
		u.Step, u.Deadline = federation.StepAwaitAck, &deadline // retried by AckOverdue if no ACK comes
	}
	_, err := dl.d.Messages.Update(ctx, w.rec.WorkspaceID, w.rec.ID, u)
	if errors.Is(err, store.ErrConflict) {
		return nil // a response or a duplicate job got there first
	}
	return err
}

// failAfter ends the message FAILED after `attempts` attempts.
func (dl *Deliverer) failAfter(ctx context.Context, w *work, attempts int, reason string, tried *federation.Attempt) error {
	_, err := dl.d.Messages.Update(ctx, w.rec.WorkspaceID, w.rec.ID, store.MessageUpdate{
		Step: federation.StepFail, Attempts: &attempts, ClearNext: true, Error: &reason, ClearDeadline: true, Attempt: tried,
	})
	if errors.Is(err, store.ErrConflict) {
		return nil
	}
	return err
}

// exhaust marks the message FAILED and puts its job in the queue's DLQ,
// where the dlq-recorder and the DLQ alarm see it.
func (dl *Deliverer) exhaust(ctx context.Context, w *work, reason string, tried *federation.Attempt) error {
	reason = fmt.Sprintf("retry budget spent after %d attempts: %s", w.rec.Attempts, reason)
	if err := dl.failAfter(ctx, w, w.rec.Attempts, reason, tried); err != nil {
		return err
	}
	return dl.d.Jobs.Send(ctx, w.queue+"-dlq", queue.Job{WorkspaceID: w.job.WorkspaceID, MessageID: w.job.MessageID}, 0)
}

// recordHealth updates the peer's health after an attempt (best effort:
// a lost update only delays the circuit by one failure).
func (dl *Deliverer) recordHealth(ctx context.Context, conn *federation.Connection, ok bool, now time.Time) {
	h := dl.d.Circuit.Next(conn.Health, ok, now)
	if h.Equal(conn.Health) {
		return
	}
	if err := dl.d.Connections.SetHealth(ctx, conn.WorkspaceID, conn.ID, h); err != nil {
		dl.d.Log.WarnContext(ctx, "peer health not recorded", "connectionId", conn.ID, "error", err.Error())
	}
	was := conn.Health.Circuit
	if was == "" {
		was = federation.CircuitClosed // a new connection's circuit is closed, not recovering
	}
	if h.Circuit != was {
		// The peer started failing (its circuit opened) or recovered.
		dl.d.Metrics.Circuit(peer.OriginOf(conn.RemoteURL), h.Circuit)
		if dl.d.Operators != nil {
			op := federation.OpPeerRecovered
			if h.Circuit == federation.CircuitOpen {
				op = federation.OpPeerFailing
			}
			dl.d.Operators.Peer(ctx, conn, op)
		}
	}
	if !ok && dl.d.Circuit.ShouldSuspend(h, now) {
		dl.suspend(ctx, conn, "no successful delivery for 5 days")
	}
}

func (dl *Deliverer) suspend(ctx context.Context, conn *federation.Connection, reason string) {
	_, err := dl.d.Connections.Transition(ctx, conn.WorkspaceID, conn.ID, store.ConnectionChange{
		To: federation.StatusSuspended, Reason: &reason,
	})
	if err != nil {
		if !errors.Is(err, store.ErrConflict) {
			dl.d.Log.WarnContext(ctx, "could not suspend peer", "connectionId", conn.ID, "error", err.Error())
		}
		return
	}
	if dl.d.Operators != nil {
		dl.d.Operators.Suspended(ctx, conn, reason)
	}
}
