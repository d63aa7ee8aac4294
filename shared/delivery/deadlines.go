package delivery

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/ids"
	"github.com/fedgate/fedgate/shared/queue"
	"github.com/fedgate/fedgate/shared/store"
)

// DeadLettered records that a message's job reached a dead-letter queue: the
// message is FAILED (if it was not sent yet) with the time it was
// dead-lettered, and an operator event is recorded (every dead-lettered job
// counts in the metric the alarm watches).
func (dl *Deliverer) DeadLettered(ctx context.Context, job queue.Job) error {
	if job.Kind != "" {
		if dl.d.Operators != nil {
			dl.d.Operators.JobExhausted(ctx, job.WorkspaceID, job.ConnectionID, job.Kind, time.UnixMilli(job.Since), time.UnixMilli(job.Until))
		}
		return nil
	}
	var updated *store.MessageRecord
	for range 3 {
		rec, err := dl.d.Messages.Get(ctx, job.WorkspaceID, job.MessageID)
		if errors.Is(err, store.ErrNotFound) {
			// Expired with the retention before its job gave up: nothing to mark.
			return nil
		}
		if err != nil {
			return err
		}
		now := dl.d.Now().UTC()
		u := store.MessageUpdate{Step: federation.StepStamp, DeadLetteredAt: &now, ClearDeadline: true}
		if !rec.Sent() {
			// FAILED only from the status just read: a delivery that
			// finished meanwhile (its job's last receive still running)
			// keeps its outcome and is only stamped.
			reason := "dead-lettered: the job failed repeatedly"
			if rec.Error != "" {
				reason += "; last error: " + rec.Error
			}
			u.Step, u.Error = federation.StepDeadLetter.Only(rec.Status), &reason
		}
		updated, err = dl.d.Messages.Update(ctx, rec.WorkspaceID, rec.ID, u)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return err
		}
		break
	}
	if updated == nil {
		return fmt.Errorf("dead-lettered message %s: its status kept changing", job.MessageID)
	}
	if dl.d.Operators != nil && (updated.Status == federation.MsgFailed || !updated.Sent()) {
		// A message that reached its peer needs no one's attention.
		dl.d.Operators.Exhausted(ctx, updated)
	}
	return nil
}

// AckOverdue retries a delivery answered 202 whose EVENT_ACK did not arrive
// by its deadline, like a failed attempt, so nothing stays PENDING for ever.
func (dl *Deliverer) AckOverdue(ctx context.Context, rec *store.MessageRecord) error {
	now := dl.d.Now()
	reason := fmt.Sprintf("no EVENT_ACK within %s of the peer's 202", dl.d.AckDeadline)
	w := &work{queue: queue.Delivery, job: queue.Job{WorkspaceID: rec.WorkspaceID, MessageID: rec.ID}, rec: rec}
	if dl.d.Policy.Next(rec.Attempts, rec.CreatedAt, now, 0, dl.d.Random).Exhausted {
		return dl.exhaust(ctx, w, rec.Attempts, reason, nil)
	}
	_, err := dl.d.Messages.Update(ctx, rec.WorkspaceID, rec.ID, store.MessageUpdate{
		Step: federation.StepAckOverdue, Error: &reason, ClearDelivered: true, ClearDeadline: true, NextAttemptAt: &now,
	})
	if errors.Is(err, store.ErrConflict) {
		// The ACK arrived meanwhile: only take it off the deadline index.
		_, err = dl.d.Messages.Update(ctx, rec.WorkspaceID, rec.ID, store.MessageUpdate{Step: federation.StepStamp, ClearDeadline: true})
		return err
	}
	if err != nil {
		return err
	}
	dl.d.Log.InfoContext(ctx, "EVENT_ACK overdue; retrying", "messageId", rec.ID, "connectionId", rec.ConnectionID)
	return dl.d.Jobs.Send(ctx, queue.Delivery, w.job, 0)
}

// ReleaseEvery bounds how often a connection's held deliveries are released
// (PROTOCOL.md §1: at most once a minute per connection).
const ReleaseEvery = time.Minute

// Release sends at once the deliveries held for a connection (the peer's
// event.sync says it takes them again; a local resume ends a suspension):
// each gets a new hold token and a job carrying it, so the job that was
// waiting goes stale. It returns how many it released; a second call within
// ReleaseEvery releases nothing.
func (dl *Deliverer) Release(ctx context.Context, ws, connID string) (int, error) {
	now := dl.d.Now()
	if ok, err := dl.d.Connections.Release(ctx, ws, connID, now, ReleaseEvery); err != nil || !ok {
		return 0, err
	}
	released, cursor := 0, ""
	for {
		held, next, err := dl.d.Messages.Held(ctx, ws, connID, 100, cursor)
		if err != nil {
			return released, err
		}
		for _, rec := range held {
			ok, err := dl.releaseHeld(ctx, rec, now)
			if err != nil {
				return released, err
			}
			if ok {
				released++
			}
		}
		if cursor = next; cursor == "" {
			break
		}
	}
	if released > 0 {
		dl.d.Log.InfoContext(ctx, "held deliveries released", "connectionId", connID, "released", released)
	}
	return released, nil
}

// releaseHeld renews one held delivery's hold token and sends a job with it at
// once; false when it went on meanwhile.
func (dl *Deliverer) releaseHeld(ctx context.Context, rec *store.MessageRecord, now time.Time) (bool, error) {
	token := ids.New()
	_, err := dl.d.Messages.Update(ctx, rec.WorkspaceID, rec.ID, store.MessageUpdate{Step: federation.StepHold, Hold: token, HoldOn: rec.ConnectionID})
	if errors.Is(err, store.ErrConflict) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	job := queue.Job{WorkspaceID: rec.WorkspaceID, MessageID: rec.ID, Token: token}
	if !rec.HoldSince.IsZero() {
		job.HeldMs = now.Sub(rec.HoldSince).Milliseconds()
	}
	q := queue.Delivery
	if rec.EnvelopeType == federation.EnvCommandResponse {
		q = queue.Ack // answers travel on the ack queue
	}
	return true, dl.d.Jobs.Send(ctx, q, job, 0)
}
