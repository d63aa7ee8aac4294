package delivery

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/ids"
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
	if o.held {
		// The peer cannot take it yet (it has not fetched our rotated key,
		// or it suspended its side): held, not failed, on its own schedule.
		dl.recordHeld(ctx, w.conn, o.at)
		w.log.InfoContext(ctx, "held by the peer's answer", "error", o.err)
		w.job.Holds++
		return dl.wait(ctx, w, verdict{act: actWait, wait: answerHold(w.job.Holds), why: o.err, held: true})
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
	next := dl.d.Policy.Next(o.n, w.rec.CreatedAt.Add(w.held()), o.at, retryAfter, dl.d.Random)
	if next.Exhausted {
		w.log.WarnContext(ctx, "retry budget spent", "error", o.err)
		dl.d.Metrics.Ended(peer.OriginOf(w.conn.RemoteURL), o.n)
		return dl.exhaust(ctx, w, o.n, o.err, o.record)
	}
	w.log.InfoContext(ctx, "delivery failed; retrying", "error", o.err, "errorClass", o.class, "delayMs", next.Delay.Milliseconds())
	u := store.MessageUpdate{Step: federation.StepRetry, Attempts: &o.n, NextAttemptAt: &next.At, Error: &o.err, Attempt: o.record}
	if _, err := dl.d.Messages.Update(ctx, w.rec.WorkspaceID, w.rec.ID, w.endHold(u)); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil // a concurrent duplicate job already finished it
		}
		return err
	}
	return dl.d.Jobs.Send(ctx, w.queue, w.job.Retry(next.At, next.Delay), next.Delay)
}

// wait sends the job back to wait without an attempt. The first look of a
// hold episode writes once — the held attempt record, when the wait ends
// (nextAttemptAt), and the episode's token, which puts the message on its
// connection's held index for a release — and every later look costs no
// write: the time held travels in the job (PROTOCOL.md §8, held deliveries
// cost no storage write while they wait). A held wait is left out of the
// retry horizon; a peer's own 429 pace is not.
func (dl *Deliverer) wait(ctx context.Context, w *work, v verdict) error {
	dl.d.Metrics.Delivery(peer.OriginOf(w.conn.RemoteURL), federation.AttemptHeld)
	now := dl.d.Now()
	job := w.job
	if job.Token == "" {
		rec := w.rec
		at := now.Add(v.wait).UTC()
		u := store.MessageUpdate{Step: federation.StepHold, NextAttemptAt: &at, Hold: ids.New(), HoldOn: rec.ConnectionID}
		if len(rec.AttemptLog) < store.MaxAttemptLog {
			u.Attempt = &federation.Attempt{Attempt: rec.Attempts + 1, At: now.UTC(), Outcome: federation.AttemptHeld, Error: federation.Truncate(v.why, 500)}
		}
		if _, err := dl.d.Messages.Update(ctx, rec.WorkspaceID, rec.ID, u); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return nil // finished meanwhile
			}
			return err
		}
		job.Token = u.Hold
	}
	return dl.d.Jobs.Send(ctx, w.queue, job.Held(now.Add(v.wait), v.wait, v.held), v.wait)
}

// held is how long the message has waited without attempts: what earlier
// hold episodes recorded and what the current one's job carries.
func (w *work) held() time.Duration {
	return w.rec.Held + time.Duration(w.job.HeldMs)*time.Millisecond
}

// endHold makes an update that follows an attempt end the hold episode the
// message was in, recording the time it was held.
func (w *work) endHold(u store.MessageUpdate) store.MessageUpdate {
	if u.Attempts != nil {
		u.AttemptsWere = &w.rec.Attempts // only the job that made the attempt records it
	}
	if w.rec.HoldToken != "" {
		u.EndHold = true
	}
	if w.job.HeldMs > 0 {
		held := w.held()
		u.Held = &held
	}
	return u
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
	_, err := dl.d.Messages.Update(ctx, w.rec.WorkspaceID, w.rec.ID, w.endHold(u))
	if errors.Is(err, store.ErrConflict) {
		return nil // a response or a duplicate job got there first
	}
	return err
}

// failAfter ends the message FAILED after `attempts` attempts.
func (dl *Deliverer) failAfter(ctx context.Context, w *work, attempts int, reason string, tried *federation.Attempt) error {
	_, err := dl.d.Messages.Update(ctx, w.rec.WorkspaceID, w.rec.ID, w.endHold(store.MessageUpdate{
		Step: federation.StepFail, Attempts: &attempts, ClearNext: true, Error: &reason, ClearDeadline: true, Attempt: tried,
	}))
	if errors.Is(err, store.ErrConflict) {
		return nil
	}
	return err
}

// expire ends a COMMAND that was not sent before its expiresAt: TIMEOUT,
// as if its answer never came (it never will).
func (dl *Deliverer) expire(ctx context.Context, w *work, reason string) error {
	now := dl.d.Now().UTC()
	_, err := dl.d.Messages.Update(ctx, w.rec.WorkspaceID, w.rec.ID, w.endHold(store.MessageUpdate{
		Step: federation.StepTimeout, Error: &reason, CompletedAt: &now, ClearNext: true, ClearDeadline: true,
	}))
	if errors.Is(err, store.ErrConflict) {
		return nil
	}
	return err
}

// exhaust marks the message FAILED and puts its job in the queue's DLQ,
// where the dlq-recorder and the DLQ alarm see it.
func (dl *Deliverer) exhaust(ctx context.Context, w *work, attempts int, reason string, tried *federation.Attempt) error {
	reason = fmt.Sprintf("retry budget spent after %d attempts: %s", attempts, reason)
	if err := dl.failAfter(ctx, w, attempts, reason, tried); err != nil {
		return err
	}
	return dl.d.Jobs.Send(ctx, w.queue+"-dlq", queue.Job{WorkspaceID: w.job.WorkspaceID, MessageID: w.job.MessageID}, 0)
}

// recordHealth updates the peer's health after an attempt (best effort:
// a lost update only delays the circuit by one failure).
func (dl *Deliverer) recordHealth(ctx context.Context, conn *federation.Connection, ok bool, now time.Time) {
	if ok && conn.Health.PausedUntil != nil {
		// The peer took one: its earlier Retry-After no longer holds the others.
		if err := dl.d.Connections.Unpause(ctx, conn.WorkspaceID, conn.ID); err != nil {
			dl.d.Log.WarnContext(ctx, "peer's pace not cleared", "connectionId", conn.ID, "error", err.Error())
		}
	}
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

// recordHeld notes that the peer answered only holds: no success, so a peer
// that holds everything for 5 days is suspended like a failing one, while
// its circuit stays as it is (it answered).
func (dl *Deliverer) recordHeld(ctx context.Context, conn *federation.Connection, now time.Time) {
	h := conn.Health
	if h.FailingSince == nil {
		at := now.UTC()
		h.FailingSince = &at
		if h.Circuit == "" {
			h.Circuit = federation.CircuitClosed
		}
		if err := dl.d.Connections.SetHealth(ctx, conn.WorkspaceID, conn.ID, h); err != nil {
			dl.d.Log.WarnContext(ctx, "peer health not recorded", "connectionId", conn.ID, "error", err.Error())
		}
	}
	if dl.d.Circuit.ShouldSuspend(h, now) {
		dl.suspend(ctx, conn, "the peer held every delivery for 5 days")
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
