package delivery

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/queue"
	"github.com/fedgate/fedgate/shared/store"
)

// The gate decides from stored state alone, so every reason a delivery
// waits, ends or goes is a row here, without a store.
func TestGate(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	later := now.Add(90 * time.Second)
	earlier := now.Add(-time.Second)
	noJitter := func(time.Duration) time.Duration { return 0 }
	event := func() *store.MessageRecord {
		return &store.MessageRecord{Message: federation.Message{MessageType: federation.TypeEvent, CreatedAt: now.Add(-time.Hour)}, EnvelopeType: federation.EnvEvent}
	}
	old := event()
	old.CreatedAt = now.Add(-Horizon - time.Minute)
	control := &store.MessageRecord{Message: federation.Message{CreatedAt: now}, EnvelopeType: federation.EnvDisconnect}
	command := func(expires time.Time) *store.MessageRecord {
		body, _ := json.Marshal(federation.CommandBody{CommandType: "x.y", ExpiresAt: expires.UnixMilli()})
		return &store.MessageRecord{Message: federation.Message{MessageType: federation.TypeCommand, CreatedAt: now.Add(-time.Minute)},
			EnvelopeType: federation.EnvCommand, Body: body}
	}
	conn := func(status federation.ConnStatus, h federation.Health) *federation.Connection {
		return &federation.Connection{Status: status, Health: h}
	}
	closed := federation.Health{Circuit: federation.CircuitClosed}
	tests := []struct {
		name string
		rec  *store.MessageRecord
		conn *federation.Connection
		job  queue.Job
		want verdict
	}{
		{"active, closed circuit", event(), conn(federation.StatusActive, closed), queue.Job{},
			verdict{act: actAttempt}},
		{"a new connection's empty health", event(), conn(federation.StatusActive, federation.Health{}), queue.Job{},
			verdict{act: actAttempt}},
		{"a chained wait not over", event(), conn(federation.StatusActive, closed), queue.Job{NotBefore: later.UnixMilli()},
			verdict{act: actChain, wait: 90 * time.Second}},
		{"a chained wait over", event(), conn(federation.StatusActive, closed), queue.Job{NotBefore: earlier.UnixMilli()},
			verdict{act: actAttempt}},
		{"suspended connection: held", event(), conn(federation.StatusSuspended, closed), queue.Job{},
			verdict{act: actWait, wait: suspendedWait, why: "the connection is SUSPENDED", held: true}},
		{"pending connection: held", event(), conn(federation.StatusPending, closed), queue.Job{},
			verdict{act: actWait, wait: suspendedWait, why: "the connection is PENDING", held: true}},
		{"disconnected connection: failed", event(), conn(federation.StatusDisconnected, closed), queue.Job{},
			verdict{act: actFail, why: "connection is DISCONNECTED"}},
		{"rejected connection: failed", event(), conn(federation.StatusRejected, closed), queue.Job{},
			verdict{act: actFail, why: "connection is REJECTED"}},
		{"a control envelope goes whatever the status", control, conn(federation.StatusDisconnected, closed), queue.Job{},
			verdict{act: actAttempt}},
		{"the peer's 429 pace: waits, horizon runs", event(), conn(federation.StatusActive, federation.Health{Circuit: federation.CircuitClosed, PausedUntil: &later}), queue.Job{},
			verdict{act: actWait, wait: 90 * time.Second, why: "the peer asked to wait (429 Retry-After)"}},
		{"a pace that ended", event(), conn(federation.StatusActive, federation.Health{Circuit: federation.CircuitClosed, PausedUntil: &earlier}), queue.Job{},
			verdict{act: actAttempt}},
		{"open circuit: held", event(), conn(federation.StatusActive, federation.Health{Circuit: federation.CircuitOpen, OpenUntil: &later}), queue.Job{},
			verdict{act: actWait, wait: 90 * time.Second, why: "the peer's circuit is open", held: true}},
		{"past the 7-day horizon, held time included", old, conn(federation.StatusActive, closed), queue.Job{},
			verdict{act: actFail, why: "not sent within the 7-day horizon"}},
		{"a command before its expiresAt", command(later), conn(federation.StatusActive, closed), queue.Job{},
			verdict{act: actAttempt}},
		{"a command past its expiresAt is never sent", command(earlier), conn(federation.StatusActive, closed), queue.Job{},
			verdict{act: actExpire, why: "expired: not sent before its expiresAt"}},
		{"half-open circuit: must win the probe", event(), conn(federation.StatusActive, federation.Health{Circuit: federation.CircuitOpen, OpenUntil: &earlier}), queue.Job{},
			verdict{act: actAttempt, probe: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := gate(tt.rec, tt.conn, tt.job, now, noJitter); got != tt.want {
				t.Errorf("gate = %+v, want %+v", got, tt.want)
			}
		})
	}
	// The schedule of an answer the sender holds: 5 s doubling to 15 min.
	for n, want := range map[int]time.Duration{1: 5 * time.Second, 2: 10 * time.Second, 5: 80 * time.Second, 8: 640 * time.Second, 9: 15 * time.Minute, 40: 15 * time.Minute} {
		if got := answerHold(n); got != want {
			t.Errorf("hold after %d held answers: %s, want %s", n, got, want)
		}
	}
	// The verdicts of the bounds shared with other containers.
	if v := slotsTaken(20, noJitter); v != (verdict{act: actWait, wait: slotWait, why: "20 deliveries to the peer are in flight", held: true}) {
		t.Errorf("slots taken: %+v", v)
	}
	if v := probeTaken(noJitter); v != (verdict{act: actWait, wait: probeWait / 2, why: "another delivery probes the peer's half-open circuit", held: true}) {
		t.Errorf("probe taken: %+v", v)
	}
}

// Jitter spreads the waiters behind an open circuit or a pace, never
// shortening the wait.
func TestGateJitterOnlyLengthens(t *testing.T) {
	now := time.Now()
	until := now.Add(time.Minute)
	half := func(d time.Duration) time.Duration { return d / 2 }
	v := gate(&store.MessageRecord{Message: federation.Message{CreatedAt: now}, EnvelopeType: federation.EnvEvent},
		&federation.Connection{Status: federation.StatusActive, Health: federation.Health{Circuit: federation.CircuitOpen, OpenUntil: &until}},
		queue.Job{}, now, half)
	if v.wait != time.Minute+probeWait/2 {
		t.Errorf("wait %s, want the open period plus the jitter", v.wait)
	}
}
