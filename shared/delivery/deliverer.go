package delivery

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/fedgate/fedgate/shared/faults"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/incoming"
	"github.com/fedgate/fedgate/shared/metrics"
	"github.com/fedgate/fedgate/shared/operations"
	"github.com/fedgate/fedgate/shared/peer"
	"github.com/fedgate/fedgate/shared/queue"
	"github.com/fedgate/fedgate/shared/store"
	"github.com/fedgate/fedgate/shared/trace"
)

// Deps is what the Deliverer needs.
type Deps struct {
	Messages    *store.Messages
	Connections *store.Connections
	Signer      *Signer
	Verifier    *incoming.Verifier
	Peers       *peer.Client
	Jobs        *queue.Sender
	Policy      federation.RetryPolicy
	Circuit     federation.Circuit // zero: federation.DefaultCircuit
	// AckDeadline is how long an EVENT answered 202 waits for its EVENT_ACK
	// before it is retried like a failure (zero: an hour).
	AckDeadline time.Duration
	// Slots bound the deliveries in flight to one peer to InFlight (nil
	// Slots: no bound), so a slow peer holds at most that many invocations
	// and never the capacity the others need (PROTOCOL.md §9).
	Slots    *store.Limits
	InFlight int
	Metrics  *metrics.Recorder
	// Operators is told what the people running the instance must see: a
	// peer suspended for its health, a message dead-lettered (nil: nobody).
	Operators *operations.Service
	Faults    *faults.Injector // crash points (local runner only)
	Log       *slog.Logger
	Now       func() time.Time // nil: time.Now
	Random    func() float64   // jitter source; nil: math/rand
}

// Deliverer processes delivery and ack jobs in four steps: load the message
// and its connection, gate (may it be attempted now?), attempt (sign, post,
// classify the answer) and settle (record the outcome, schedule what next).
type Deliverer struct{ d Deps }

// New returns a Deliverer.
func New(d Deps) *Deliverer {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Random == nil {
		d.Random = rand.Float64
	}
	if d.Circuit.Threshold == 0 {
		d.Circuit = federation.DefaultCircuit
	}
	if d.AckDeadline <= 0 {
		d.AckDeadline = time.Hour
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	return &Deliverer{d: d}
}

// work is one job being handled: the message, its connection and where the
// job came from.
type work struct {
	queue string
	job   queue.Job
	rec   *store.MessageRecord
	conn  *federation.Connection
	log   *slog.Logger
}

// Handle processes one job from queueName. It returns an error only when the
// job must come back (storage or queue failures); peer failures are handled
// here by scheduling the next try.
func (dl *Deliverer) Handle(ctx context.Context, queueName string, job queue.Job) error {
	w, err := dl.load(ctx, queueName, job)
	if err != nil || w == nil {
		return err
	}
	if tc, ok := trace.FromID(w.rec.TraceID); ok {
		// The delivery continues the trace its message was made in, however
		// its job came (the outbox sweeper, a retry, a redelivery).
		ctx = trace.With(ctx, tc)
	}
	v := gate(w.rec, w.conn, job, dl.d.Now(), dl.jitter)
	if v.act != actAttempt {
		return dl.obey(ctx, w, v)
	}
	release, v, err := dl.reserve(ctx, w, v.probe)
	if err != nil {
		return err
	}
	if v.act != actAttempt {
		return dl.obey(ctx, w, v)
	}
	defer release()
	o, err := dl.attempt(ctx, w)
	if err != nil {
		return err
	}
	return dl.settle(ctx, w, o)
}

// load reads the job's message and its connection; nil work when there is
// nothing to send (an unknown or finished message: a duplicate job).
func (dl *Deliverer) load(ctx context.Context, queueName string, job queue.Job) (*work, error) {
	rec, err := dl.d.Messages.Get(ctx, job.WorkspaceID, job.MessageID)
	if errors.Is(err, store.ErrNotFound) {
		dl.d.Log.WarnContext(ctx, "job for an unknown message dropped", "messageId", job.MessageID)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if rec.Direction != federation.Outbound || rec.EnvelopeType == "" || rec.Sent() {
		return nil, nil // delivered already (a duplicate job), or nothing to send
	}
	if job.Token != rec.HoldToken {
		return nil, nil // a stale job: its hold episode ended, or a release sent another
	}
	w := &work{queue: queueName, job: job, rec: rec,
		log: dl.d.Log.With("messageId", rec.ID, "connectionId", rec.ConnectionID, "type", rec.EnvelopeType)}
	w.conn, err = dl.d.Connections.Get(ctx, rec.WorkspaceID, rec.ConnectionID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, dl.failAfter(ctx, w, rec.Attempts, "connection no longer exists", nil)
	}
	if err != nil {
		return nil, err
	}
	return w, nil
}

// jitter is a random wait in [0, upTo).
func (dl *Deliverer) jitter(upTo time.Duration) time.Duration {
	return time.Duration(dl.d.Random() * float64(upTo))
}

func replyStatus(r *peer.Reply) int {
	if r == nil {
		return 0
	}
	return r.Status
}
