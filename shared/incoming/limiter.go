package incoming

import (
	"sync"
	"time"
)

// fetchLimiter allows one key fetch per connection per period in this
// process. Each Lambda container has its own, so a flood of junk envelopes
// makes at most one fetch a minute per container and connection.
type fetchLimiter struct {
	mu     sync.Mutex
	period time.Duration
	last   map[string]time.Time
}

func newFetchLimiter(period time.Duration) *fetchLimiter {
	return &fetchLimiter{period: period, last: map[string]time.Time{}}
}

// allow reports whether a fetch for key may happen at now, and records it.
func (l *fetchLimiter) allow(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.last[key]; ok && now.Sub(t) < l.period {
		return false
	}
	if len(l.last) > 10000 { // forget old entries so the map stays small
		for k, t := range l.last {
			if now.Sub(t) >= l.period {
				delete(l.last, k)
			}
		}
	}
	l.last[key] = now
	return true
}
