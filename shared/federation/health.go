package federation

import "time"

// Health tracks delivery outcomes to a peer (PROTOCOL.md §8 "Peer health").
type Health struct {
	ConsecutiveFailures int        `json:"consecutiveFailures"`
	LastSuccessAt       *time.Time `json:"lastSuccessAt,omitempty"`
	LastFailureAt       *time.Time `json:"lastFailureAt,omitempty"`
	FailingSince        *time.Time `json:"-"`
	Circuit             string     `json:"circuit"`
	OpenUntil           *time.Time `json:"openUntil,omitempty"`
	OpenFor             int64      `json:"-"` // milliseconds of the current open period
	// PausedUntil is when the peer's last 429 Retry-After ends: deliveries
	// to it wait until then. A peer that asks to slow down is not failing.
	PausedUntil *time.Time `json:"pausedUntil,omitempty"`
}

// Circuit states.
const (
	CircuitClosed   = "closed"
	CircuitOpen     = "open"
	CircuitHalfOpen = "half-open"
)

// Circuit is the peer-health policy (PROTOCOL.md §8 "Peer health").
type Circuit struct {
	Threshold    int           // consecutive failures that open the circuit
	MinOpen      time.Duration // first open period, doubled while probes fail
	MaxOpen      time.Duration // longest open period
	SuspendAfter time.Duration // failing this long without a success suspends the peer
}

// DefaultCircuit is PROTOCOL.md's: open after 10 failures for 60 s, doubling
// up to 1 h; suspend after 5 days.
var DefaultCircuit = Circuit{Threshold: 10, MinOpen: time.Minute, MaxOpen: time.Hour, SuspendAfter: 5 * 24 * time.Hour}

// NextHealth is the peer-health state machine of the default policy.
func NextHealth(h Health, ok bool, now time.Time) Health { return DefaultCircuit.Next(h, ok, now) }

// Next is the peer-health state machine: failures count up and open the
// circuit at Threshold for MinOpen, doubling (up to MaxOpen) while probes
// fail; one success closes it.
func (c Circuit) Next(h Health, ok bool, now time.Time) Health {
	now = now.UTC()
	if ok {
		if h.ConsecutiveFailures == 0 && h.FailingSince == nil && h.Circuit == CircuitClosed && h.LastSuccessAt != nil && now.Sub(*h.LastSuccessAt) < time.Minute {
			return h // nothing worth a write
		}
		return Health{Circuit: CircuitClosed, LastSuccessAt: &now, LastFailureAt: h.LastFailureAt}
	}
	h.ConsecutiveFailures++
	h.LastFailureAt = &now
	if h.FailingSince == nil {
		h.FailingSince = &now
	}
	if h.Circuit == "" {
		h.Circuit = CircuitClosed
	}
	wasOpen := h.Circuit != CircuitClosed
	if h.ConsecutiveFailures >= c.Threshold || wasOpen {
		open := c.MinOpen
		if wasOpen && h.OpenFor > 0 {
			open = min(time.Duration(h.OpenFor)*time.Millisecond*2, c.MaxOpen)
		}
		until := now.Add(open)
		h.Circuit, h.OpenUntil, h.OpenFor = CircuitOpen, &until, open.Milliseconds()
	}
	return h
}

// Equal reports whether two health records say the same (nothing to write).
func (h Health) Equal(o Health) bool {
	return h.ConsecutiveFailures == o.ConsecutiveFailures && h.Circuit == o.Circuit && h.OpenFor == o.OpenFor &&
		sameTime(h.LastSuccessAt, o.LastSuccessAt) && sameTime(h.LastFailureAt, o.LastFailureAt) &&
		sameTime(h.FailingSince, o.FailingSince) && sameTime(h.OpenUntil, o.OpenUntil)
}

func sameTime(a, b *time.Time) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && a.Equal(*b))
}

// HeldUntil returns until when deliveries to the peer wait because its
// circuit is open, or false when they may be attempted now.
func (h Health) HeldUntil(now time.Time) (time.Time, bool) {
	if h.Circuit == CircuitOpen && h.OpenUntil != nil && h.OpenUntil.After(now) {
		return *h.OpenUntil, true
	}
	return time.Time{}, false
}

// ShouldSuspend reports whether a peer has failed long enough, without a
// success, to be suspended.
func (c Circuit) ShouldSuspend(h Health, now time.Time) bool {
	return h.FailingSince != nil && now.Sub(*h.FailingSince) >= c.SuspendAfter
}

// View is the health as the Connection resource shows it: "half-open" once
// an open circuit's wait is over and the next delivery is a probe.
func (h Health) View(now time.Time) Health {
	if h.Circuit == "" {
		h.Circuit = CircuitClosed
	}
	if h.Circuit == CircuitOpen && h.OpenUntil != nil && !h.OpenUntil.After(now) {
		h.Circuit = CircuitHalfOpen
	}
	return h
}
