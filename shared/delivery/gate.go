package delivery

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/ids"
	"github.com/fedgate/fedgate/shared/peer"
	"github.com/fedgate/fedgate/shared/queue"
	"github.com/fedgate/fedgate/shared/store"
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

// Horizon bounds how long after its creation any message is sent, held time
// included (PROTOCOL.md §1); receivers keep de-duplication records a day
// longer. Past it the message is FAILED.
const Horizon = 7 * 24 * time.Hour

// The hold schedule of an answer the sender holds (401 unknown_key, 403
// connection_not_active): 5 s, doubling to 15 min (PROTOCOL.md §1).
const (
	answerHoldMin = 5 * time.Second
	answerHoldMax = 15 * time.Minute
)

// answerHold is the wait after the n-th held answer in a row (1-based).
func answerHold(n int) time.Duration {
	d := answerHoldMin
	for i := 1; i < n && d < answerHoldMax; i++ {
		d *= 2
	}
	return min(d, answerHoldMax)
}

// action is what the gate lets a delivery do now.
type action int

const (
	actAttempt action = iota // attempt it now
	actWait                  // send the job back to wait, recording why
	actChain                 // send the job back as it is: its wait is longer than SQS's 15-minute delay
	actFail                  // it can never be sent: FAILED
	actExpire                // a COMMAND past its expiresAt: TIMEOUT, never sent
)

// commandExpiry is an outgoing COMMAND's expiresAt (zero for anything else).
func commandExpiry(rec *store.MessageRecord) time.Time {
	if rec.EnvelopeType != federation.EnvCommand {
		return time.Time{}
	}
	var body federation.CommandBody
	if json.Unmarshal(rec.Body, &body) != nil || body.ExpiresAt <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(body.ExpiresAt)
}

// verdict is the gate's answer for one delivery.
type verdict struct {
	act  action
	wait time.Duration // actWait, actChain: how long
	why  string        // actWait, actFail: the reason, recorded on the message
	// held: the wait spends neither an attempt nor the retry horizon (an
	// open circuit, a suspended peer, its slots); a peer's own 429 pace
	// spends the horizon.
	held bool
	// probe: the peer's circuit is half-open, so this attempt must first win
	// the single probe.
	probe bool
}

// controlTypes are sent whatever the local status of the connection: they
// tell the peer about that status.
var controlTypes = map[string]bool{federation.EnvConnectResponse: true, federation.EnvDisconnect: true}

// gate decides, from the stored state alone, whether a delivery may be
// attempted now. jitter spreads waiters so they do not all come back at once.
func gate(rec *store.MessageRecord, conn *federation.Connection, job queue.Job, now time.Time, jitter func(time.Duration) time.Duration) verdict {
	if now.Sub(rec.CreatedAt) > Horizon {
		return verdict{act: actFail, why: "not sent within the 7-day horizon"}
	}
	if exp := commandExpiry(rec); !exp.IsZero() && now.After(exp) {
		return verdict{act: actExpire, why: "expired: not sent before its expiresAt"}
	}
	if job.NotBefore > now.UnixMilli() {
		return verdict{act: actChain, wait: time.UnixMilli(job.NotBefore).Sub(now)}
	}
	if !controlTypes[rec.EnvelopeType] {
		switch conn.Status {
		case federation.StatusActive:
		case federation.StatusSuspended, federation.StatusPending:
			return verdict{act: actWait, wait: suspendedWait, why: "the connection is " + string(conn.Status), held: true}
		default:
			return verdict{act: actFail, why: "connection is " + string(conn.Status)}
		}
	}
	if p := conn.Health.PausedUntil; p != nil && p.After(now) {
		// The peer asked to slow down (429 Retry-After): nothing goes to it
		// before then. Its own pace is not a failure: no attempt is spent,
		// but the horizon runs.
		return verdict{act: actWait, wait: p.Sub(now) + jitter(time.Second), why: "the peer asked to wait (429 Retry-After)"}
	}
	if until, open := conn.Health.HeldUntil(now); open {
		return verdict{act: actWait, wait: until.Sub(now) + jitter(probeWait), why: "the peer's circuit is open", held: true}
	}
	return verdict{act: actAttempt, probe: conn.Health.Circuit == federation.CircuitOpen}
}

// Verdicts of the shared bounds reserve checks.
func slotsTaken(inFlight int, jitter func(time.Duration) time.Duration) verdict {
	return verdict{act: actWait, wait: slotWait + jitter(slotWait), why: fmt.Sprintf("%d deliveries to the peer are in flight", inFlight), held: true}
}

func probeTaken(jitter func(time.Duration) time.Duration) verdict {
	return verdict{act: actWait, wait: probeWait/2 + jitter(probeWait), why: "another delivery probes the peer's half-open circuit", held: true}
}

// reserve takes what an attempt needs from bounds shared with every other
// container: one of the peer's in-flight slots and, for a half-open circuit,
// the single probe. Its verdict holds the delivery when either is taken;
// release gives the slot back after the attempt.
func (dl *Deliverer) reserve(ctx context.Context, w *work, probe bool) (release func(), v verdict, err error) {
	now := dl.d.Now()
	slot, ok := dl.acquire(ctx, w.conn, now)
	if !ok {
		return nil, slotsTaken(dl.d.InFlight, dl.jitter), nil
	}
	release = func() { dl.release(ctx, slot) }
	if probe {
		won, err := dl.d.Connections.ClaimProbe(ctx, w.conn.WorkspaceID, w.conn.ID, now, now.Add(probeLease))
		if err != nil || !won {
			release()
			return nil, probeTaken(dl.jitter), err
		}
		w.log = w.log.With("probe", true)
	}
	return release, verdict{act: actAttempt}, nil
}

// acquire takes one of the peer's in-flight slots. Without Slots, or when
// the slots cannot be read, the delivery goes on: the bound protects the
// other peers, and a store hiccup must not stop every delivery.
func (dl *Deliverer) acquire(ctx context.Context, conn *federation.Connection, now time.Time) (*store.Slot, bool) {
	if dl.d.Slots == nil || dl.d.InFlight <= 0 {
		return nil, true
	}
	slot, ok, err := dl.d.Slots.Acquire(ctx, peer.OriginOf(conn.RemoteURL), dl.d.InFlight, ids.New(), now, now.Add(slotLease))
	if err != nil {
		dl.d.Log.WarnContext(ctx, "peer's in-flight slots not read; delivering anyway", "connectionId", conn.ID, "error", err.Error())
		return nil, true
	}
	if !ok {
		return nil, false
	}
	return &slot, true
}

func (dl *Deliverer) release(ctx context.Context, slot *store.Slot) {
	if slot == nil {
		return
	}
	if err := dl.d.Slots.Release(context.WithoutCancel(ctx), *slot); err != nil {
		dl.d.Log.WarnContext(ctx, "in-flight slot not released (it frees itself)", "error", err.Error())
	}
}

// obey carries out a verdict that is not an attempt.
func (dl *Deliverer) obey(ctx context.Context, w *work, v verdict) error {
	switch v.act {
	case actChain:
		return dl.d.Jobs.Send(ctx, w.queue, w.job, v.wait)
	case actFail:
		return dl.failAfter(ctx, w, w.rec.Attempts, v.why, nil)
	case actExpire:
		return dl.expire(ctx, w, v.why)
	default:
		return dl.wait(ctx, w, v)
	}
}
