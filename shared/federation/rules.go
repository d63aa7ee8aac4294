package federation

import (
	"math/rand/v2"
	"strings"
	"time"
)

// deniedQueryTerms are refused anywhere in a query's text (PROTOCOL.md §6):
// credentials never cross the federation.
var deniedQueryTerms = []string{"credential", "user_credential", "api_key", "secret", "token", "password", "oauth", "access_token"}

// QueryAllowed reports whether a query may be sent or answered.
func QueryAllowed(query string) bool {
	q := strings.ToLower(query)
	for _, term := range deniedQueryTerms {
		if strings.Contains(q, term) {
			return false
		}
	}
	return true
}

// CommandAllowed reports whether an incoming command type is accepted: never
// credential commands, and otherwise only those in the allow-list.
func CommandAllowed(commandType string, allowList []string) bool {
	if strings.HasPrefix(commandType, "credential.") || strings.HasPrefix(commandType, "credentials.") {
		return false
	}
	for _, t := range allowList {
		if t == commandType {
			return true
		}
	}
	return false
}

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

// Retryable reports whether an HTTP status from a peer is worth retrying:
// network errors (status 0), 408, 429 and 5xx; other 4xx are final.
func Retryable(status int) bool {
	return status == 0 || status == 408 || status == 429 || status >= 500
}
