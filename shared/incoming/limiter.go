package incoming

import (
	"context"
	"sync"
	"time"

	"github.com/fedgate/fedgate/shared/identity"
)

// keyFetches allows one fetch of a peer's keys per connection per period in
// this process, and shares its result: envelopes that arrive while a fetch
// is in flight, or soon after it, wait for it and verify with what it found.
// Without the sharing, the burst of events a peer sends right after rotating
// its key would have one verified and the rest refused as unknown_key (a 4xx
// the sender does not retry). Each Lambda container has its own, so a flood
// of junk envelopes makes at most one fetch a period per container and
// connection.
type keyFetches struct {
	mu     sync.Mutex
	period time.Duration
	last   map[string]*keyFetch
}

// keyFetch is one fetch; done closes when doc and err are set.
type keyFetch struct {
	at   time.Time
	done chan struct{}
	doc  *identity.Document
	err  error
}

func newKeyFetches(period time.Duration) *keyFetches {
	return &keyFetches{period: period, last: map[string]*keyFetch{}}
}

// fetch returns the result of the connection's fetch made within the period
// before now, waiting for it if it is still running, or runs fn as a new one.
// fresh reports whether this call ran it.
func (l *keyFetches) fetch(ctx context.Context, conn string, now time.Time, fn func() (*identity.Document, error)) (doc *identity.Document, at time.Time, err error) {
	l.mu.Lock()
	f, ok := l.last[conn]
	if !ok || now.Sub(f.at) >= l.period {
		l.forget(now)
		f = &keyFetch{at: now, done: make(chan struct{})}
		l.last[conn] = f
		l.mu.Unlock()
		f.doc, f.err = fn()
		close(f.done)
		return f.doc, f.at, f.err
	}
	l.mu.Unlock()
	select {
	case <-f.done:
		return f.doc, f.at, f.err
	case <-ctx.Done():
		return nil, f.at, ctx.Err()
	}
}

// forget drops fetches older than the period once the map grows, so it
// stays small. l.mu is held.
func (l *keyFetches) forget(now time.Time) {
	if len(l.last) <= 10000 {
		return
	}
	for k, f := range l.last {
		if now.Sub(f.at) >= l.period {
			delete(l.last, k)
		}
	}
}
