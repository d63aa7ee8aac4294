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
	OpenFor             int64      `json:"-"`
}

// Circuit states.
const (
	CircuitClosed   = "closed"
	CircuitOpen     = "open"
	CircuitHalfOpen = "half-open"
)

// Peer health thresholds (PROTOCOL.md §8 "Peer health").
const (
	CircuitThreshold = 10          // consecutive failures that open the circuit
	CircuitMinOpen   = time.Minute // first open period, doubled while probes fail
	CircuitMaxOpen   = time.Hour   // longest open period
	SuspendAfter     = 5 * 24 * time.Hour
)

// NextHealth is the peer-health state machine: failures count up and open
// the circuit at CircuitThreshold for CircuitMinOpen, doubling (up to
// CircuitMaxOpen) while probes fail; one success closes it.
func NextHealth(h Health, ok bool, now time.Time) Health {
	now = now.UTC()
	if ok {
		if h.ConsecutiveFailures == 0 && h.Circuit == CircuitClosed && h.LastSuccessAt != nil && now.Sub(*h.LastSuccessAt) < time.Minute {
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
	if h.ConsecutiveFailures >= CircuitThreshold || wasOpen {
		open := CircuitMinOpen
		if wasOpen && h.OpenFor > 0 {
			open = min(time.Duration(h.OpenFor)*time.Second*2, CircuitMaxOpen)
		}
		until := now.Add(open)
		h.Circuit, h.OpenUntil, h.OpenFor = CircuitOpen, &until, int64(open/time.Second)
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
func (h Health) ShouldSuspend(now time.Time) bool {
	return h.FailingSince != nil && now.Sub(*h.FailingSince) >= SuspendAfter
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
