package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/fedgate/fedgate/shared/faults"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/ids"
	"github.com/fedgate/fedgate/shared/metrics"
	"github.com/fedgate/fedgate/shared/peer"
	"github.com/fedgate/fedgate/shared/queue"
	"github.com/fedgate/fedgate/shared/store"
	"github.com/fedgate/fedgate/shared/trace"
)

// How long held deliveries wait before they look again: for a SUSPENDED or
// PENDING peer; for the probe of a half-open circuit (and the spread of the
// waiters behind it); and how long a probe may take before another may try.
const (
	suspendedWait = 5 * time.Minute
	probeWait     = 10 * time.Second
	probeLease    = 2 * time.Minute
)

// A peer's in-flight slots: a delivery holds one for at most slotLease
// (the peer's 10 s timeout, signing and storing, with room to spare; a
// holder that dies frees it then), and a delivery that finds them all held
// looks again after slotWait and a random part of it.
const (
	slotLease = 30 * time.Second
	slotWait  = 3 * time.Second
)

// Poster sends envelopes to peers.
type Poster interface {
	Post(ctx context.Context, baseURL, path string, body []byte) (*peer.Reply, error)
}

// AnswerVerifier verifies a signed answer in a peer's response body.
type AnswerVerifier interface {
	VerifyAnswer(ctx context.Context, conn *federation.Connection, want federation.Answer, raw []byte, members any) error
}

// Slots are the in-flight slots of each peer, shared by every container
// (store.Limits).
type Slots interface {
	Acquire(ctx context.Context, peer string, slots int, owner string, now, until time.Time) (store.Slot, bool, error)
	Release(ctx context.Context, slot store.Slot) error
}

// Operators is told what the people running the instance must see: a peer
// suspended for its health, a message dead-lettered (shared/operations).
type Operators interface {
	Suspended(ctx context.Context, conn *federation.Connection, reason string)
	Exhausted(ctx context.Context, rec *store.MessageRecord)
	JobExhausted(ctx context.Context, ws, connID, kind string, since, until time.Time)
	Peer(ctx context.Context, conn *federation.Connection, opType string) // failing or recovered
}

// Deliverer processes delivery and ack jobs: it signs the stored message,
// posts it, records the outcome and schedules the next try.
type Deliverer struct {
	Msgs     *store.Messages
	Conns    *store.Connections
	Signer   *Signer
	Verifier AnswerVerifier
	Peers    Poster
	Jobs     JobSender
	Policy   federation.RetryPolicy
	Circuit  federation.Circuit // zero: federation.DefaultCircuit
	// AckDeadline is how long an EVENT answered 202 waits for its EVENT_ACK
	// before it is retried like a failure.
	AckDeadline time.Duration
	// Slots bound the deliveries in flight to one peer to InFlight (nil
	// Slots: no bound), so a slow peer holds at most that many invocations
	// and never the capacity the others need (PROTOCOL.md §9).
	Slots     Slots
	InFlight  int
	Operators Operators
	Metrics   *metrics.Recorder
	Faults    *faults.Injector // crash points (local runner only)
	Log       *slog.Logger
	Now       func() time.Time
	Random    func() float64 // jitter source; nil: math/rand
}

// controlTypes are sent whatever the local status of the connection: they
// tell the peer about that status.
var controlTypes = map[string]bool{federation.EnvConnectResponse: true, federation.EnvDisconnect: true}

// Handle processes one job from queueName. It returns an error only when the
// job must come back (storage or queue failures); peer failures are handled
// here by scheduling the next try.
func (d *Deliverer) Handle(ctx context.Context, queueName string, job queue.Job) error {
	now := d.Now()
	rec, err := d.Msgs.Get(ctx, job.WorkspaceID, job.MessageID)
	if errors.Is(err, store.ErrNotFound) {
		d.Log.WarnContext(ctx, "job for an unknown message dropped", "messageId", job.MessageID)
		return nil
	}
	if err != nil {
		return err
	}
	// The delivery continues the trace its message was made in, however its
	// job came (the outbox sweeper, a retry, a redelivery).
	if tc, ok := trace.FromID(rec.TraceID); ok {
		ctx = trace.With(ctx, tc)
	}
	log := d.Log.With("messageId", rec.ID, "connectionId", rec.ConnectionID, "type", rec.EnvelopeType)
	if rec.Direction != federation.Outbound || rec.EnvelopeType == "" || done(rec) {
		return nil // delivered already (a duplicate job), or nothing to send
	}
	if job.NotBefore > now.UnixMilli() {
		// A wait longer than SQS's 15-minute delay, chained.
		return d.Jobs.Send(ctx, queueName, job, time.Until(time.UnixMilli(job.NotBefore)))
	}
	conn, err := d.Conns.Get(ctx, rec.WorkspaceID, rec.ConnectionID)
	if errors.Is(err, store.ErrNotFound) {
		return d.fail(ctx, rec, "connection no longer exists")
	}
	if err != nil {
		return err
	}
	if !controlTypes[rec.EnvelopeType] {
		switch conn.Status {
		case federation.StatusActive:
		case federation.StatusSuspended, federation.StatusPending:
			// Held, not attempted: neither an attempt nor the horizon is spent.
			return d.hold(ctx, queueName, job, conn, rec, suspendedWait, "the connection is "+conn.Status)
		default:
			return d.fail(ctx, rec, "connection is "+conn.Status)
		}
	}
	if p := conn.Health.PausedUntil; p != nil && p.After(now) {
		// The peer asked to slow down (429 Retry-After): nothing goes to it
		// before then. The wait is the peer's own pace, not a failure; it
		// spends no attempt.
		return d.wait(ctx, queueName, job, conn, rec, p.Sub(now)+d.jitter(time.Second), "the peer asked to wait (429 Retry-After)", false)
	}
	if until, held := conn.Health.HeldUntil(now); held {
		// The peer's circuit is open: wait, spreading the waiters out so they
		// do not all come back at once.
		return d.hold(ctx, queueName, job, conn, rec, until.Sub(now)+d.jitter(probeWait), "the peer's circuit is open")
	}
	slot, held, err := d.acquire(ctx, conn, now)
	if err != nil {
		return err
	}
	if !held {
		// As many deliveries as the peer may have are in flight already:
		// this one waits without spending an attempt or its horizon.
		return d.hold(ctx, queueName, job, conn, rec, slotWait+d.jitter(slotWait), fmt.Sprintf("%d deliveries to the peer are in flight", d.InFlight))
	}
	defer d.release(ctx, slot)
	if conn.Health.Circuit == federation.CircuitOpen {
		// Half-open: exactly one delivery probes the peer, the others wait
		// for its outcome.
		probing, err := d.Conns.ClaimProbe(ctx, conn.WorkspaceID, conn.ID, now, now.Add(probeLease))
		if err != nil {
			return err
		}
		if !probing {
			return d.hold(ctx, queueName, job, conn, rec, probeWait/2+d.jitter(probeWait), "another delivery probes the peer's half-open circuit")
		}
		log = log.With("probe", true)
	}

	path, _ := federation.IncomingPath(rec.EnvelopeType)
	envelope, err := d.Signer.Sign(ctx, conn, rec.ID, rec.EnvelopeType, json.RawMessage(rec.Body))
	if err != nil {
		return err
	}
	start := d.Now()
	reply, postErr := d.Peers.Post(ctx, conn.RemoteURL, path, envelope)
	d.Faults.At(faults.AfterPost)
	now = d.Now() // waits count from the answer, not from the start of the attempt
	attempts := rec.Attempts + 1
	outcome := d.classify(ctx, rec, conn, reply, postErr)
	log = log.With("attempt", attempts, "status", replyStatus(reply))
	tried := outcome.attempt(attempts, start, now, reply)
	if len(rec.AttemptLog) >= store.MaxAttemptLog {
		tried = nil // the first ones are kept
	}
	d.measure(conn, outcome, rec, attempts, now)

	if outcome.ok {
		d.recordHealth(ctx, conn, true, now)
		log.InfoContext(ctx, "delivered")
		return d.succeed(ctx, rec, attempts, outcome, tried)
	}
	if reply != nil && reply.Status == http.StatusGone {
		d.suspend(ctx, conn, "peer answered 410 Gone")
	}
	if !outcome.retry {
		d.recordHealth(ctx, conn, true, now) // the peer answered: it is alive
		log.WarnContext(ctx, "rejected by the peer; not retried", "error", outcome.err)
		return d.failAfter(ctx, rec, attempts, outcome.err, tried)
	}
	var retryAfter time.Duration
	if reply != nil {
		retryAfter = reply.RetryAfter
	}
	if reply != nil && reply.Status == http.StatusTooManyRequests {
		// The peer is alive and asks to slow down: its health is not
		// touched, and its other deliveries wait as long as this one.
		if retryAfter > 0 {
			if err := d.Conns.Pause(ctx, conn.WorkspaceID, conn.ID, now.Add(retryAfter)); err != nil {
				log.WarnContext(ctx, "peer's pace not recorded", "error", err.Error())
			}
		}
	} else {
		d.recordHealth(ctx, conn, false, now)
	}
	next := d.Policy.Next(attempts, rec.CreatedAt.Add(rec.Held), now, retryAfter, d.Random)
	if next.Exhausted {
		log.WarnContext(ctx, "retry budget spent", "error", outcome.err)
		d.Metrics.Ended(peer.OriginOf(conn.RemoteURL), attempts)
		rec.Attempts = attempts
		return d.exhaust(ctx, queueName, job, rec, outcome.err, tried)
	}
	log.InfoContext(ctx, "delivery failed; retrying", "error", outcome.err, "errorClass", outcome.class, "delayMs", next.Delay.Milliseconds())
	if _, err := d.Msgs.Update(ctx, rec.WorkspaceID, rec.ID, store.MessageUpdate{
		Status: federation.MsgRetrying, From: []string{federation.MsgPending, federation.MsgRetrying},
		Attempts: &attempts, NextAttemptAt: &next.At, Error: &outcome.err, Attempt: tried,
	}); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil // a concurrent duplicate job already finished it
		}
		return err
	}
	return d.Jobs.Send(ctx, queueName, job.Retry(next.At, next.Delay), next.Delay)
}

// measure counts an attempt's outcome to the peer, and when the delivery
// ends with it (delivered, or refused for good), its latency and attempts.
// An EVENT answered 202 is measured when its EVENT_ACK arrives.
func (d *Deliverer) measure(conn *federation.Connection, o outcome, rec *store.MessageRecord, attempts int, now time.Time) {
	p := peer.OriginOf(conn.RemoteURL)
	switch {
	case o.ok:
		d.Metrics.Delivery(p, federation.AttemptDelivered)
		if !o.awaitAck {
			d.Metrics.Delivered(p, now.Sub(rec.CreatedAt), attempts)
		}
	case o.retry:
		d.Metrics.Delivery(p, federation.AttemptFailed)
	default:
		d.Metrics.Delivery(p, federation.AttemptRejected)
		d.Metrics.Ended(p, attempts)
	}
}

// done reports whether nothing is left to send for rec.
func done(rec *store.MessageRecord) bool {
	if federation.IsFinal(rec.Status) || rec.Status == federation.MsgDelivered {
		return true
	}
	// An EVENT answered 202 waits for its EVENT_ACK at /incoming/event/ack.
	return rec.DeliveredAt != nil
}

type outcome struct {
	ok, retry bool
	err       string
	class     string               // the error class of a failure (federation.Class*)
	ack       *federation.Response // what the peer answered, kept on the message
	awaitAck  bool                 // 202 to an EVENT: the ACK comes later
}

// attempt is the record of the attempt that had outcome o: what happened,
// when, how long it took, and for anything but a delivery the start of the
// peer's answer.
func (o outcome) attempt(n int, start, end time.Time, reply *peer.Reply) *federation.Attempt {
	a := &federation.Attempt{Attempt: n, At: start.UTC(), DurationMs: end.Sub(start).Milliseconds(), Status: replyStatus(reply)}
	switch {
	case o.ok:
		a.Outcome = federation.AttemptDelivered
		return a
	case o.retry:
		a.Outcome = federation.AttemptFailed
	default:
		a.Outcome = federation.AttemptRejected
	}
	a.ErrorClass, a.Error = o.class, truncate(o.err, 500)
	if reply != nil {
		a.ResponseExcerpt = truncate(string(reply.Body), federation.MaxResponseExcerpt)
	}
	return a
}

// truncate cuts s to at most n bytes without splitting a character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// classify interprets a peer's answer for a message type.
func (d *Deliverer) classify(ctx context.Context, rec *store.MessageRecord, conn *federation.Connection, reply *peer.Reply, err error) outcome {
	if err != nil {
		return outcome{retry: true, err: err.Error(), class: peer.ErrorClass(err)}
	}
	if reply.Status >= 300 {
		return outcome{retry: federation.Retryable(reply.Status), err: reply.Describe(), class: federation.ClassHTTP}
	}
	switch rec.EnvelopeType {
	case federation.EnvEvent:
		if reply.Status == http.StatusAccepted {
			return outcome{ok: true, awaitAck: true}
		}
		var ack federation.EventAckBody
		if err := d.Verifier.VerifyAnswer(ctx, conn, federation.Answer{Type: federation.EnvEventAck, CorrelationID: rec.ID}, reply.Body, &ack); err != nil {
			class := federation.ClassInvalidAnswer
			if federation.HasCode(err, federation.CodeInvalidSignature) || federation.HasCode(err, federation.CodeUnknownKey) {
				class = federation.ClassSignature
			}
			return outcome{retry: true, err: "invalid EVENT_ACK: " + err.Error(), class: class}
		}
		resp := &federation.Response{Success: ack.Received}
		if !ack.Received {
			resp.Error = "the receiver is not subscribed to " + rec.EventType
		}
		return outcome{ok: true, ack: resp}
	case federation.EnvCommand:
		if reply.Status != http.StatusAccepted {
			return outcome{retry: true, err: fmt.Sprintf("peer answered %d to a COMMAND, want 202", reply.Status), class: federation.ClassInvalidAnswer}
		}
	}
	return outcome{ok: true}
}

func replyStatus(r *peer.Reply) int {
	if r == nil {
		return 0
	}
	return r.Status
}

// jitter is a random wait in [0, upTo).
func (d *Deliverer) jitter(upTo time.Duration) time.Duration {
	r := rand.Float64
	if d.Random != nil {
		r = d.Random
	}
	return time.Duration(r() * float64(upTo))
}

// acquire takes one of the peer's in-flight slots. Without Slots, or when
// the slots cannot be read, the delivery goes on: the bound protects the
// other peers, and a store hiccup must not stop every delivery.
func (d *Deliverer) acquire(ctx context.Context, conn *federation.Connection, now time.Time) (*store.Slot, bool, error) {
	if d.Slots == nil || d.InFlight <= 0 {
		return nil, true, nil
	}
	slot, ok, err := d.Slots.Acquire(ctx, peer.OriginOf(conn.RemoteURL), d.InFlight, ids.New(), now, now.Add(slotLease))
	if err != nil {
		d.Log.WarnContext(ctx, "peer's in-flight slots not read; delivering anyway", "connectionId", conn.ID, "error", err.Error())
		return nil, true, nil
	}
	if !ok {
		return nil, false, nil
	}
	return &slot, true, nil
}

func (d *Deliverer) release(ctx context.Context, slot *store.Slot) {
	if slot == nil {
		return
	}
	if err := d.Slots.Release(context.WithoutCancel(ctx), *slot); err != nil {
		d.Log.WarnContext(ctx, "in-flight slot not released (it frees itself)", "error", err.Error())
	}
}

// hold sends the job back to wait without an attempt; the time held counts
// neither against the attempts nor against the retry horizon (PROTOCOL.md
// §8), so the message remembers it.
func (d *Deliverer) hold(ctx context.Context, queueName string, job queue.Job, conn *federation.Connection, rec *store.MessageRecord, wait time.Duration, why string) error {
	return d.wait(ctx, queueName, job, conn, rec, wait, why, true)
}

// wait sends the job back to wait without an attempt, recording a "held"
// attempt unless the last one recorded is held already (a long wait is one
// record, not one per look). countHeld adds the wait to the time the retry
// horizon leaves out; a peer's own 429 pace does not (its horizon runs).
func (d *Deliverer) wait(ctx context.Context, queueName string, job queue.Job, conn *federation.Connection, rec *store.MessageRecord, wait time.Duration, why string, countHeld bool) error {
	d.Metrics.Delivery(peer.OriginOf(conn.RemoteURL), federation.AttemptHeld)
	u := store.MessageUpdate{From: []string{federation.MsgPending, federation.MsgRetrying}}
	if countHeld {
		held := rec.Held + wait
		u.Held = &held
	}
	if n := len(rec.AttemptLog); n < store.MaxAttemptLog && (n == 0 || rec.AttemptLog[n-1].Outcome != federation.AttemptHeld) {
		u.Attempt = &federation.Attempt{Attempt: rec.Attempts + 1, At: d.Now().UTC(), Outcome: federation.AttemptHeld, Error: why}
	}
	if u.Held != nil || u.Attempt != nil {
		if _, err := d.Msgs.Update(ctx, rec.WorkspaceID, rec.ID, u); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return nil // finished meanwhile
			}
			return err
		}
	}
	return d.Jobs.Send(ctx, queueName, job.Retry(d.Now().Add(wait), wait), wait)
}

func (d *Deliverer) succeed(ctx context.Context, rec *store.MessageRecord, attempts int, o outcome, tried *federation.Attempt) error {
	now := d.Now().UTC()
	u := store.MessageUpdate{
		Attempts: &attempts, ClearNext: true, DeliveredAt: &now, Response: o.ack, Attempt: tried,
		From: []string{federation.MsgPending, federation.MsgRetrying},
	}
	empty := ""
	u.Error = &empty
	if o.awaitAck {
		u.Status = federation.MsgPending // DELIVERED only once the EVENT_ACK arrives …
		deadline := now.Add(d.ackDeadline())
		u.Deadline = &deadline // … or retried when it does not (AckOverdue)
	} else {
		u.Status = federation.MsgDelivered
	}
	_, err := d.Msgs.Update(ctx, rec.WorkspaceID, rec.ID, u)
	if errors.Is(err, store.ErrConflict) {
		return nil // a response or a duplicate job got there first
	}
	return err
}

func (d *Deliverer) fail(ctx context.Context, rec *store.MessageRecord, reason string) error {
	return d.failAfter(ctx, rec, rec.Attempts, reason, nil)
}

func (d *Deliverer) failAfter(ctx context.Context, rec *store.MessageRecord, attempts int, reason string, tried *federation.Attempt) error {
	_, err := d.Msgs.Update(ctx, rec.WorkspaceID, rec.ID, store.MessageUpdate{
		Status: federation.MsgFailed, From: []string{federation.MsgPending, federation.MsgRetrying},
		Attempts: &attempts, ClearNext: true, Error: &reason, ClearDeadline: true, Attempt: tried,
	})
	if errors.Is(err, store.ErrConflict) {
		return nil
	}
	return err
}

// exhaust marks the message FAILED and puts its job in the queue's DLQ,
// where the dlq-recorder and the DLQ alarm see it.
func (d *Deliverer) exhaust(ctx context.Context, queueName string, job queue.Job, rec *store.MessageRecord, reason string, tried *federation.Attempt) error {
	reason = fmt.Sprintf("retry budget spent after %d attempts: %s", rec.Attempts, reason)
	if err := d.failAfter(ctx, rec, rec.Attempts, reason, tried); err != nil {
		return err
	}
	return d.Jobs.Send(ctx, queueName+"-dlq", queue.Job{WorkspaceID: job.WorkspaceID, MessageID: job.MessageID}, 0)
}

// recordHealth updates the peer's health after an attempt (best effort:
// a lost update only delays the circuit by one failure).
func (d *Deliverer) recordHealth(ctx context.Context, conn *federation.Connection, ok bool, now time.Time) {
	h := d.circuit().Next(conn.Health, ok, now)
	if h.Equal(conn.Health) {
		return
	}
	if err := d.Conns.SetHealth(ctx, conn.WorkspaceID, conn.ID, h); err != nil {
		d.Log.WarnContext(ctx, "peer health not recorded", "connectionId", conn.ID, "error", err.Error())
	}
	was := conn.Health.Circuit
	if was == "" {
		was = federation.CircuitClosed // a new connection's circuit is closed, not recovering
	}
	if h.Circuit != was {
		// The peer started failing (its circuit opened) or recovered.
		d.Metrics.Circuit(peer.OriginOf(conn.RemoteURL), h.Circuit)
		if d.Operators != nil {
			op := federation.OpPeerRecovered
			if h.Circuit == federation.CircuitOpen {
				op = federation.OpPeerFailing
			}
			d.Operators.Peer(ctx, conn, op)
		}
	}
	if !ok && d.circuit().ShouldSuspend(h, now) {
		d.suspend(ctx, conn, "no successful delivery for 5 days")
	}
}

func (d *Deliverer) suspend(ctx context.Context, conn *federation.Connection, reason string) {
	_, err := d.Conns.Transition(ctx, conn.WorkspaceID, conn.ID, store.ConnectionChange{
		To: federation.StatusSuspended, Reason: &reason,
	})
	if err != nil {
		if !errors.Is(err, store.ErrConflict) {
			d.Log.WarnContext(ctx, "could not suspend peer", "connectionId", conn.ID, "error", err.Error())
		}
		return
	}
	if d.Operators != nil {
		d.Operators.Suspended(ctx, conn, reason)
	}
}

// DeadLettered records that a message's job reached a dead-letter queue: the
// message is FAILED (if it was not final yet) with the time it was
// dead-lettered, and an operator event is recorded (every dead-lettered job
// counts in the metric the alarm watches).
func (d *Deliverer) DeadLettered(ctx context.Context, job queue.Job) error {
	if job.Kind != "" {
		if d.Operators != nil {
			d.Operators.JobExhausted(ctx, job.WorkspaceID, job.ConnectionID, job.Kind, time.UnixMilli(job.Since), time.UnixMilli(job.Until))
		}
		return nil
	}
	var updated *store.MessageRecord
	for range 3 {
		rec, err := d.Msgs.Get(ctx, job.WorkspaceID, job.MessageID)
		if errors.Is(err, store.ErrNotFound) {
			// Expired with the retention before its job gave up: nothing to mark.
			return nil
		}
		if err != nil {
			return err
		}
		now := d.Now().UTC()
		u := store.MessageUpdate{DeadLetteredAt: &now, From: federation.MessageStatuses, ClearDeadline: true}
		if !done(rec) {
			// FAILED only from the status just read: a delivery that
			// finished meanwhile (its job's last receive still running)
			// keeps its outcome and is only stamped.
			reason := "dead-lettered: the job failed repeatedly"
			if rec.Error != "" {
				reason += "; last error: " + rec.Error
			}
			u.Status, u.Error, u.From = federation.MsgFailed, &reason, []string{rec.Status}
		}
		updated, err = d.Msgs.Update(ctx, rec.WorkspaceID, rec.ID, u)
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
	if d.Operators != nil && (updated.Status == federation.MsgFailed || !done(updated)) {
		// A message that reached its peer needs no one's attention.
		d.Operators.Exhausted(ctx, updated)
	}
	return nil
}

func (d *Deliverer) ackDeadline() time.Duration {
	if d.AckDeadline > 0 {
		return d.AckDeadline
	}
	return time.Hour
}

// AckOverdue retries a delivery answered 202 whose EVENT_ACK did not arrive
// by its deadline, like a failed attempt, so nothing stays PENDING for ever.
func (d *Deliverer) AckOverdue(ctx context.Context, rec *store.MessageRecord) error {
	now := d.Now()
	reason := fmt.Sprintf("no EVENT_ACK within %s of the peer's 202", d.ackDeadline())
	if d.Policy.Next(rec.Attempts, rec.CreatedAt, now, 0, d.Random).Exhausted {
		return d.exhaust(ctx, queue.Delivery, queue.Job{WorkspaceID: rec.WorkspaceID, MessageID: rec.ID}, rec, reason, nil)
	}
	_, err := d.Msgs.Update(ctx, rec.WorkspaceID, rec.ID, store.MessageUpdate{
		Status: federation.MsgRetrying, From: []string{federation.MsgPending}, Error: &reason,
		ClearDelivered: true, ClearDeadline: true, NextAttemptAt: &now,
	})
	if errors.Is(err, store.ErrConflict) {
		// The ACK arrived meanwhile: only take it off the deadline index.
		_, err = d.Msgs.Update(ctx, rec.WorkspaceID, rec.ID, store.MessageUpdate{From: federation.MessageStatuses, ClearDeadline: true})
		return err
	}
	if err != nil {
		return err
	}
	d.Log.InfoContext(ctx, "EVENT_ACK overdue; retrying", "messageId", rec.ID, "connectionId", rec.ConnectionID)
	return d.Jobs.Send(ctx, queue.Delivery, queue.Job{WorkspaceID: rec.WorkspaceID, MessageID: rec.ID}, 0)
}

func (d *Deliverer) circuit() federation.Circuit {
	if d.Circuit.Threshold == 0 {
		return federation.DefaultCircuit
	}
	return d.Circuit
}
