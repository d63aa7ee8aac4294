package federation

import (
	"math/rand/v2"
	"time"
)

// RetryPolicy is the delivery retry budget (PROTOCOL.md §8).
type RetryPolicy struct {
	BaseDelay   time.Duration // first ceiling; also the shortest wait
	MaxDelay    time.Duration // ceiling between tries
	MaxAttempts int
	MaxAge      time.Duration // from the message's creation
}

// DefaultRetryPolicy is exponential backoff from 5 s, at most 15 min between
// tries, for up to 24 h and 20 attempts.
var DefaultRetryPolicy = RetryPolicy{BaseDelay: 5 * time.Second, MaxDelay: 15 * time.Minute, MaxAttempts: 20, MaxAge: 24 * time.Hour}

// Ceiling is the longest wait after the given failed attempt (1-based):
// BaseDelay·2^(attempt−1), capped at MaxDelay.
func (p RetryPolicy) Ceiling(attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	d := p.BaseDelay
	for i := 1; i < attempt && d < p.MaxDelay; i++ {
		d *= 2
	}
	return min(d, p.MaxDelay)
}

// Delay is the wait after the given failed attempt: "full jitter", uniform in
// [0, Ceiling], but never shorter than BaseDelay so a flapping peer is not
// hammered. r is a random source in [0,1); nil uses math/rand.
func (p RetryPolicy) Delay(attempt int, r func() float64) time.Duration {
	if r == nil {
		r = rand.Float64
	}
	d := time.Duration(r() * float64(p.Ceiling(attempt)))
	return max(d, p.BaseDelay)
}

// Exhausted reports whether no further attempt may be made after `attempts`
// attempts of a message created at createdAt, with the next one due at next.
func (p RetryPolicy) Exhausted(attempts int, createdAt, next time.Time) bool {
	return attempts >= p.MaxAttempts || next.Sub(createdAt) > p.MaxAge
}

// Retry is the decision after a failed attempt.
type Retry struct {
	Delay     time.Duration // wait before the next attempt
	At        time.Time     // when it is due
	Exhausted bool          // the budget is spent: no next attempt
}

// Next is the one retry step every sender uses after `attempts` failed
// attempts of something created at createdAt: the backoff delay, stretched to
// the peer's (or backend's) Retry-After hint, and whether the budget allows it.
func (p RetryPolicy) Next(attempts int, createdAt, now time.Time, retryAfter time.Duration, r func() float64) Retry {
	delay := max(p.Delay(attempts, r), retryAfter)
	at := now.Add(delay)
	return Retry{Delay: delay, At: at, Exhausted: p.Exhausted(attempts, createdAt, at)}
}

// Retryable reports whether an HTTP status from a peer is worth retrying
// (PROTOCOL.md §1): network errors (status 0), 3xx (a redirect is never
// followed), 408, 429 and 5xx; other 4xx are final (401 unknown_key and 403
// connection_not_active are held, which the deliverer decides first).
func Retryable(status int) bool {
	return status == 0 || (status >= 300 && status < 400) || status == 408 || status == 429 || status >= 500
}
