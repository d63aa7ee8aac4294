// Package ratelimit limits requests per key — a peer's connection, a
// workspace's users — across every Lambda container that serves them
// (PROTOCOL.md §9 "Rate limits").
//
// A rule of rate r per second with a burst of b is kept as windows of b/r
// seconds, each granting b requests: the average is r per second and no
// more than b arrive at once in a window. The count of a window lives in
// DynamoDB (store.Limits), so the limit holds however many containers serve
// the key; a container takes a share of the window at a time (a twentieth of
// the burst) and spends it without further calls, so most requests cost no
// AWS call. The price of the shares: a container that stops receiving the
// key's requests leaves its unspent share unused, so the effective limit
// lies between b − containers × share and b per window.
//
// When DynamoDB cannot be reached the request is let through (and logged):
// a limit exists to protect the instance, not to take it down with its
// store.
package ratelimit

import (
	"context"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/fedgate/fedgate/shared/metrics"
)

// Rule is a rate per second and a burst.
type Rule struct {
	Rate  float64
	Burst int
}

// Window is the length of the rule's windows: burst/rate, at least 100 ms.
func (r Rule) Window() time.Duration {
	return max(time.Duration(float64(r.Burst)/r.Rate*float64(time.Second)), 100*time.Millisecond)
}

// Valid reports whether the rule limits anything.
func (r Rule) Valid() bool { return r.Rate > 0 && r.Burst > 0 }

// Windows is the shared count of every window (store.Limits).
type Windows interface {
	Grant(ctx context.Context, name string, window time.Time, length time.Duration, want, limit int) (int, error)
}

// Limiter applies one rule to many keys. It is a cold-start singleton.
type Limiter struct {
	name    string // what the keys are, in the shared windows' names ("conn", "ws")
	rule    Rule
	windows Windows
	log     *slog.Logger
	now     func() time.Time

	metrics *metrics.Recorder
	label   string // the Limit dimension of its refusals: peer or workspace

	mu    sync.Mutex
	local map[string]*share
}

// MeasureWith makes the limiter count its refusals (RateLimited) as label.
func (l *Limiter) MeasureWith(m *metrics.Recorder, label string) *Limiter {
	l.metrics, l.label = m, label
	return l
}

// share is what this container holds of a key's current window.
type share struct {
	window time.Time
	left   int
	spent  bool // the window granted its whole burst
}

// New returns a limiter applying rule to keys named name.
func New(name string, rule Rule, windows Windows, log *slog.Logger) *Limiter {
	return &Limiter{name: name, rule: rule, windows: windows, log: log, now: time.Now, local: map[string]*share{}}
}

// Allow reports whether one more request of key may go now; when it may
// not, wait is how long until the next window.
func (l *Limiter) Allow(ctx context.Context, key string) (ok bool, wait time.Duration) {
	if l == nil || !l.rule.Valid() {
		return true, 0
	}
	length := l.rule.Window()
	now := l.now()
	window := time.UnixMilli(now.UnixMilli() - now.UnixMilli()%length.Milliseconds())
	next := window.Add(length).Sub(now)

	l.mu.Lock()
	sh := l.local[key]
	if sh == nil || !sh.window.Equal(window) {
		l.forget(window)
		sh = &share{window: window}
		l.local[key] = sh
	}
	switch {
	case sh.left > 0:
		sh.left--
		l.mu.Unlock()
		return true, 0
	case sh.spent:
		l.mu.Unlock()
		l.metrics.Limited(l.label)
		return false, retryAfter(next)
	}
	l.mu.Unlock()

	n, err := l.windows.Grant(ctx, l.name+"#"+key, window, length, max(1, l.rule.Burst/20), l.rule.Burst)
	if err != nil {
		l.log.WarnContext(ctx, "rate limit not checked; request let through", "limit", l.name, "error", err.Error())
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if n == 0 {
		sh.spent = true
		l.metrics.Limited(l.label)
		return false, retryAfter(next)
	}
	sh.left += n - 1
	return true, 0
}

// retryAfter is the wait told to the caller: whole seconds, at least one.
func retryAfter(d time.Duration) time.Duration {
	return time.Duration(math.Ceil(max(d, time.Second).Seconds())) * time.Second
}

// forget drops the shares of past windows once there are many. l.mu is held.
func (l *Limiter) forget(current time.Time) {
	if len(l.local) < 10000 {
		return
	}
	for k, sh := range l.local {
		if sh.window.Before(current) {
			delete(l.local, k)
		}
	}
}
