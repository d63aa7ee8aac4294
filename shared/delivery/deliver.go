package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/incoming"
	"github.com/fedgate/fedgate/shared/peer"
	"github.com/fedgate/fedgate/shared/queue"
	"github.com/fedgate/fedgate/shared/store"
)

// Peer health thresholds (PROTOCOL.md §8 "Peer health").
const (
	CircuitThreshold = 10          // consecutive failures that open the circuit
	CircuitMinOpen   = time.Minute // first open period, doubled while probes fail
	CircuitMaxOpen   = time.Hour   // longest open period
	SuspendAfter     = 5 * 24 * time.Hour
	suspendedWait    = 5 * time.Minute // how often a delivery to a SUSPENDED peer looks again
)

// Poster sends envelopes to peers.
type Poster interface {
	Post(ctx context.Context, baseURL, path string, body []byte) (*peer.Reply, error)
}

// Deliverer processes delivery and ack jobs: it signs the stored message,
// posts it, records the outcome and schedules the next try.
type Deliverer struct {
	Msgs   *store.Messages
	Conns  *store.Connections
	Signer *Signer
	Peers  Poster
	Jobs   JobSender
	Policy federation.RetryPolicy
	Log    *slog.Logger
	Now    func() time.Time
	Random func() float64 // jitter source; nil: math/rand
	// OnSuspend is told when a peer is suspended for its health.
	OnSuspend func(ctx context.Context, conn *federation.Connection, reason string)
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
		d.Log.Warn("job for an unknown message dropped", "messageId", job.MessageID)
		return nil
	}
	if err != nil {
		return err
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
			// Held, not attempted: the budget is not spent, only its age.
			if d.Policy.Exhausted(0, rec.CreatedAt, now.Add(suspendedWait)) {
				return d.exhaust(ctx, queueName, job, rec, "connection "+conn.Status+" until the retry budget ran out")
			}
			return d.Jobs.Send(ctx, queueName, job, suspendedWait)
		default:
			return d.fail(ctx, rec, "connection is "+conn.Status)
		}
	}
	if h := conn.Health; h.Circuit == federation.CircuitOpen && h.OpenUntil != nil && h.OpenUntil.After(now) {
		// The peer's circuit is open: wait, without spending an attempt.
		if d.Policy.Exhausted(0, rec.CreatedAt, *h.OpenUntil) {
			return d.exhaust(ctx, queueName, job, rec, "peer circuit open until the retry budget ran out")
		}
		return d.Jobs.Send(ctx, queueName, job, h.OpenUntil.Sub(now)+time.Duration(d.random()*float64(5*time.Second)))
	}

	path, _ := federation.IncomingPath(rec.EnvelopeType)
	envelope, err := d.Signer.Sign(ctx, rec.ID, rec.EnvelopeType, conn.ID, json.RawMessage(rec.Body))
	if err != nil {
		return err
	}
	reply, postErr := d.Peers.Post(ctx, conn.RemoteURL, path, envelope)
	now = d.Now() // waits count from the answer, not from the start of the attempt
	attempts := rec.Attempts + 1
	outcome := classify(rec, conn, reply, postErr)
	log = log.With("attempt", attempts, "status", replyStatus(reply))

	if outcome.ok {
		d.recordHealth(ctx, conn, true, now)
		log.Info("delivered")
		return d.succeed(ctx, rec, attempts, outcome)
	}
	if reply != nil && reply.Status == http.StatusGone {
		d.suspend(ctx, conn, "peer answered 410 Gone")
	}
	if !outcome.retry {
		d.recordHealth(ctx, conn, true, now) // the peer answered: it is alive
		log.Warn("rejected by the peer; not retried", "error", outcome.err)
		return d.failAfter(ctx, rec, attempts, outcome.err)
	}
	d.recordHealth(ctx, conn, false, now)
	delay := d.Policy.Delay(attempts, d.Random)
	if reply != nil && reply.RetryAfter > delay {
		delay = reply.RetryAfter
	}
	next := now.Add(delay)
	if d.Policy.Exhausted(attempts, rec.CreatedAt, next) {
		log.Warn("retry budget spent", "error", outcome.err)
		rec.Attempts = attempts
		return d.exhaust(ctx, queueName, job, rec, outcome.err)
	}
	log.Info("delivery failed; retrying", "error", outcome.err, "delayMs", delay.Milliseconds())
	if _, err := d.Msgs.Update(ctx, rec.WorkspaceID, rec.ID, store.MessageUpdate{
		Status: federation.MsgRetrying, From: []string{federation.MsgPending, federation.MsgRetrying},
		Attempts: &attempts, NextAttemptAt: &next, Error: &outcome.err,
	}); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil // a concurrent duplicate job already finished it
		}
		return err
	}
	next2 := queue.Job{WorkspaceID: job.WorkspaceID, MessageID: job.MessageID}
	if delay > queue.MaxDelay {
		next2.NotBefore = next.UnixMilli()
	}
	return d.Jobs.Send(ctx, queueName, next2, delay)
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
	ack       *federation.Response // what the peer answered, kept on the message
	awaitAck  bool                 // 202 to an EVENT: the ACK comes later
}

// classify interprets a peer's answer for a message type.
func classify(rec *store.MessageRecord, conn *federation.Connection, reply *peer.Reply, err error) outcome {
	if err != nil {
		return outcome{retry: true, err: err.Error()}
	}
	if reply.Status >= 300 {
		return outcome{retry: federation.Retryable(reply.Status), err: reply.Describe()}
	}
	switch rec.EnvelopeType {
	case federation.EnvEvent:
		if reply.Status == http.StatusAccepted {
			return outcome{ok: true, awaitAck: true}
		}
		ack, err := VerifyEventAck(conn, rec.ID, reply.Body)
		if err != nil {
			return outcome{retry: true, err: "invalid EVENT_ACK: " + err.Error()}
		}
		resp := &federation.Response{Success: ack.Received}
		if !ack.Received {
			resp.Error = "the receiver is not subscribed to " + rec.EventType
		}
		return outcome{ok: true, ack: resp}
	case federation.EnvCommand:
		if reply.Status != http.StatusAccepted {
			return outcome{retry: true, err: fmt.Sprintf("peer answered %d to a COMMAND, want 202", reply.Status)}
		}
	}
	return outcome{ok: true}
}

// EventAck is a verified EVENT_ACK.
type EventAck struct {
	federation.Envelope
	federation.EventAckBody
}

// VerifyEventAck checks that body is an EVENT_ACK for messageID signed by
// the connection's peer.
func VerifyEventAck(conn *federation.Connection, messageID string, body []byte) (*EventAck, error) {
	var ack EventAck
	if err := json.Unmarshal(body, &ack); err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	if ack.Type != federation.EnvEventAck || ack.CorrelationID != messageID || ack.ConnectionID != conn.ID || ack.InstanceID != conn.RemoteInstanceID {
		return nil, errors.New("not an EVENT_ACK for this message")
	}
	k, ok := conn.RemoteKey(ack.KeyID)
	if !ok {
		return nil, fmt.Errorf("unknown key %s", ack.KeyID)
	}
	if err := incoming.VerifyWith(k, body); err != nil {
		return nil, err
	}
	return &ack, nil
}

func replyStatus(r *peer.Reply) int {
	if r == nil {
		return 0
	}
	return r.Status
}

func (d *Deliverer) random() float64 {
	if d.Random != nil {
		return d.Random()
	}
	return 0.5
}

func (d *Deliverer) succeed(ctx context.Context, rec *store.MessageRecord, attempts int, o outcome) error {
	now := d.Now().UTC()
	u := store.MessageUpdate{
		Attempts: &attempts, ClearNext: true, DeliveredAt: &now, Response: o.ack,
		From: []string{federation.MsgPending, federation.MsgRetrying},
	}
	empty := ""
	u.Error = &empty
	if o.awaitAck {
		u.Status = federation.MsgPending // DELIVERED only once the EVENT_ACK arrives
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
	return d.failAfter(ctx, rec, rec.Attempts, reason)
}

func (d *Deliverer) failAfter(ctx context.Context, rec *store.MessageRecord, attempts int, reason string) error {
	_, err := d.Msgs.Update(ctx, rec.WorkspaceID, rec.ID, store.MessageUpdate{
		Status: federation.MsgFailed, From: []string{federation.MsgPending, federation.MsgRetrying},
		Attempts: &attempts, ClearNext: true, Error: &reason, ClearDeadline: true,
	})
	if errors.Is(err, store.ErrConflict) {
		return nil
	}
	return err
}

// exhaust marks the message FAILED and puts its job in the queue's DLQ,
// where the dlq-recorder and the DLQ alarm see it.
func (d *Deliverer) exhaust(ctx context.Context, queueName string, job queue.Job, rec *store.MessageRecord, reason string) error {
	reason = fmt.Sprintf("retry budget spent after %d attempts: %s", rec.Attempts, reason)
	if err := d.failAfter(ctx, rec, rec.Attempts, reason); err != nil {
		return err
	}
	return d.Jobs.Send(ctx, queueName+"-dlq", queue.Job{WorkspaceID: job.WorkspaceID, MessageID: job.MessageID}, 0)
}

// recordHealth updates the peer's health after an attempt (best effort:
// a lost update only delays the circuit by one failure).
func (d *Deliverer) recordHealth(ctx context.Context, conn *federation.Connection, ok bool, now time.Time) {
	h := NextHealth(conn.Health, ok, now)
	if h == conn.Health {
		return
	}
	if err := d.Conns.SetHealth(ctx, conn.WorkspaceID, conn.ID, h); err != nil {
		d.Log.Warn("peer health not recorded", "connectionId", conn.ID, "error", err.Error())
	}
	if !ok && h.FailingSince != nil && now.Sub(*h.FailingSince) >= SuspendAfter {
		d.suspend(ctx, conn, "no successful delivery for 5 days")
	}
}

func (d *Deliverer) suspend(ctx context.Context, conn *federation.Connection, reason string) {
	_, err := d.Conns.Transition(ctx, conn.WorkspaceID, conn.ID, store.Change{
		To: federation.StatusSuspended, Set: map[string]any{"reason": reason},
	})
	if err != nil {
		if !errors.Is(err, store.ErrConflict) {
			d.Log.Warn("could not suspend peer", "connectionId", conn.ID, "error", err.Error())
		}
		return
	}
	d.Log.Warn("operational event", "event", "federation.connection.suspended", "connectionId", conn.ID, "reason", reason)
	if d.OnSuspend != nil {
		d.OnSuspend(ctx, conn, reason)
	}
}

// NextHealth is the peer-health state machine: failures count up and open
// the circuit at CircuitThreshold for CircuitMinOpen, doubling (up to
// CircuitMaxOpen) while probes fail; one success closes it.
func NextHealth(h federation.Health, ok bool, now time.Time) federation.Health {
	now = now.UTC()
	if ok {
		if h.ConsecutiveFailures == 0 && h.Circuit == federation.CircuitClosed && h.LastSuccessAt != nil && now.Sub(*h.LastSuccessAt) < time.Minute {
			return h // nothing worth a write
		}
		return federation.Health{Circuit: federation.CircuitClosed, LastSuccessAt: &now, LastFailureAt: h.LastFailureAt}
	}
	h.ConsecutiveFailures++
	h.LastFailureAt = &now
	if h.FailingSince == nil {
		h.FailingSince = &now
	}
	if h.Circuit == "" {
		h.Circuit = federation.CircuitClosed
	}
	wasOpen := h.Circuit != federation.CircuitClosed
	if h.ConsecutiveFailures >= CircuitThreshold || wasOpen {
		open := CircuitMinOpen
		if wasOpen && h.OpenFor > 0 {
			open = min(time.Duration(h.OpenFor)*time.Second*2, CircuitMaxOpen)
		}
		until := now.Add(open)
		h.Circuit, h.OpenUntil, h.OpenFor = federation.CircuitOpen, &until, int64(open/time.Second)
	}
	return h
}
