package delivery

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/fedgate/fedgate/shared/faults"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/peer"
	"github.com/fedgate/fedgate/shared/store"
)

// outcome is what one attempt came to.
type outcome struct {
	ok, retry bool
	held      bool // an answer the sender holds: tried again on its own schedule, no attempt spent
	err       string
	class     string               // the error class of a failure (federation.Class*)
	ack       *federation.Response // what the peer answered, kept on the message
	awaitAck  bool                 // 202 to an EVENT: the ACK comes later
	reply     *peer.Reply          // the peer's answer (nil: none came)
	n         int                  // the attempt's number
	record    *federation.Attempt  // the attempt's record (nil once the log is full)
	at        time.Time            // when the answer came: waits count from it
}

// attempt signs the message afresh (a retry is still fresh for the
// receiver), posts it and classifies the answer. Only a failure to sign is an
// error: the job comes back, and the peer's health is not touched by it.
func (dl *Deliverer) attempt(ctx context.Context, w *work) (outcome, error) {
	path, _ := federation.IncomingPath(w.rec.EnvelopeType)
	envelope, err := dl.d.Signer.Sign(ctx, w.conn, w.rec.ID, w.rec.EnvelopeType, json.RawMessage(w.rec.Body))
	if err != nil {
		return outcome{}, err
	}
	start := dl.d.Now()
	reply, postErr := dl.d.Peers.Post(ctx, w.conn.RemoteURL, path, envelope)
	dl.d.Faults.At(faults.AfterPost)
	o := dl.classify(ctx, w, reply, postErr)
	o.reply, o.at, o.n = reply, dl.d.Now(), w.rec.Attempts+1
	if len(w.rec.AttemptLog) < store.MaxAttemptLog {
		o.record = o.attemptRecord(start) // the first ones are kept
	}
	w.log = w.log.With("attempt", o.n, "status", replyStatus(reply))
	dl.measure(w, o)
	return o, nil
}

// classify interprets a peer's answer for a message type.
func (dl *Deliverer) classify(ctx context.Context, w *work, reply *peer.Reply, err error) outcome {
	if err != nil {
		return outcome{retry: true, err: err.Error(), class: peer.ErrorClass(err)}
	}
	if reply.Status >= 300 {
		code, _ := peer.ErrorCode(reply.Body)
		held := (reply.Status == http.StatusUnauthorized && code == string(federation.CodeUnknownKey)) ||
			(reply.Status == http.StatusForbidden && code == string(federation.CodeNotActive))
		return outcome{retry: federation.Retryable(reply.Status), held: held, err: reply.Describe(), class: federation.ClassHTTP}
	}
	switch w.rec.EnvelopeType {
	case federation.EnvEvent:
		if reply.Status == http.StatusAccepted {
			return outcome{ok: true, awaitAck: true}
		}
		var ack federation.EventAckBody
		want := federation.ExpectedAnswer{Type: federation.EnvEventAck, CorrelationID: w.rec.ID}
		if err := dl.d.Verifier.VerifyAnswer(ctx, w.conn, want, reply.Body, &ack); err != nil {
			class := federation.ClassInvalidAnswer
			if federation.HasCode(err, federation.CodeInvalidSignature) || federation.HasCode(err, federation.CodeUnknownKey) {
				class = federation.ClassSignature
			}
			return outcome{retry: true, err: "invalid EVENT_ACK: " + err.Error(), class: class}
		}
		return outcome{ok: true, ack: federation.AckResponse(ack.Received, w.rec.EventType)}
	case federation.EnvCommand:
		if reply.Status != http.StatusAccepted {
			return outcome{retry: true, err: fmt.Sprintf("peer answered %d to a COMMAND, want 202", reply.Status), class: federation.ClassInvalidAnswer}
		}
	}
	return outcome{ok: true}
}

// attemptRecord is the record of the attempt: what happened, when, how long
// it took, and for anything but a delivery the start of the peer's answer.
func (o outcome) attemptRecord(start time.Time) *federation.Attempt {
	a := &federation.Attempt{Attempt: o.n, At: start.UTC(), DurationMs: o.at.Sub(start).Milliseconds(), Status: replyStatus(o.reply)}
	switch {
	case o.ok:
		a.Outcome = federation.AttemptDelivered
		return a
	case o.held:
		a.Outcome = federation.AttemptHeld
	case o.retry:
		a.Outcome = federation.AttemptFailed
	default:
		a.Outcome = federation.AttemptRejected
	}
	a.ErrorClass, a.Error = o.class, federation.Truncate(o.err, 500)
	if o.reply != nil {
		a.ResponseExcerpt = federation.Truncate(string(o.reply.Body), federation.MaxResponseExcerpt)
	}
	return a
}

// measure counts an attempt's outcome to the peer, and when the delivery
// ends with it (delivered, or refused for good), its latency and attempts.
// An EVENT answered 202 is measured when its EVENT_ACK arrives.
func (dl *Deliverer) measure(w *work, o outcome) {
	p := peer.OriginOf(w.conn.RemoteURL)
	switch {
	case o.ok:
		dl.d.Metrics.Delivery(p, federation.AttemptDelivered)
		if !o.awaitAck {
			dl.d.Metrics.Delivered(p, o.at.Sub(w.rec.CreatedAt), o.n)
		}
	case o.held:
		dl.d.Metrics.Delivery(p, federation.AttemptHeld)
	case o.retry:
		dl.d.Metrics.Delivery(p, federation.AttemptFailed)
	default:
		dl.d.Metrics.Delivery(p, federation.AttemptRejected)
		dl.d.Metrics.Ended(p, o.n)
	}
}
