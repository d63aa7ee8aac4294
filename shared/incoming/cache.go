package incoming

import (
	"net/netip"
	"sync"
	"time"

	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/ratelimit"
)

// connCache keeps each connection's record for at most ttl in this
// container (PROTOCOL.md §3, "Caching"): an envelope on a busy connection
// costs no read of it, and a change made elsewhere (a suspension, a key
// withdrawal) takes effect within ttl. Entries are copies: a caller may
// change what it got without changing what others get.
type connCache struct {
	mu  sync.Mutex
	ttl time.Duration
	m   map[string]cachedConn
}

type cachedConn struct {
	conn *federation.Connection
	at   time.Time
}

func newConnCache(ttl time.Duration) *connCache {
	return &connCache{ttl: ttl, m: map[string]cachedConn{}}
}

func (c *connCache) get(id string, now time.Time) (*federation.Connection, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[id]
	if !ok || now.Sub(e.at) >= c.ttl || now.Before(e.at) {
		return nil, false
	}
	return e.conn.Clone(), true
}

func (c *connCache) put(conn *federation.Connection, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) > 10000 {
		for id, e := range c.m {
			if now.Sub(e.at) >= c.ttl {
				delete(c.m, id)
			}
		}
	}
	c.m[conn.ID] = cachedConn{conn: conn.Clone(), at: now}
}

// DefaultJunk bounds the envelopes from one source address that fail
// verification: 100 at once, then 10 a second (PROTOCOL.md §3).
var DefaultJunk = ratelimit.Rule{Rate: 10, Burst: 100}

// junkCounter counts, in memory, the envelopes from each source address
// that failed verification, in fixed windows of the rule's length (IPv6
// addresses count per /64). It costs no storage call, and it never touches a
// connection's window: failing envelopes cannot spend a peer's limit.
type junkCounter struct {
	mu     sync.Mutex
	rule   ratelimit.Rule
	counts map[string]*junkWindow
	// good are the connections an envelope verified on lately: their
	// envelopes are read even from an address over its allowance (a junk
	// sender behind the same address cannot lock a peer out), and an
	// envelope that verifies is never refused for its address.
	good map[string]time.Time
}

// trustFor is how long a verified connection stays good.
const trustFor = 10 * time.Minute

type junkWindow struct {
	start time.Time
	n     int
}

func newJunkCounter(rule ratelimit.Rule) *junkCounter {
	return &junkCounter{rule: rule, counts: map[string]*junkWindow{}, good: map[string]time.Time{}}
}

// sourceKey is what an address counts as: itself, or for IPv6 its /64.
func sourceKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	if a = a.Unmap(); a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

func (j *junkCounter) window(key string, now time.Time) *junkWindow {
	w := j.counts[key]
	if w == nil || now.Sub(w.start) >= j.rule.Window() {
		if len(j.counts) > 10000 {
			clear(j.counts)
		}
		w = &junkWindow{start: now}
		j.counts[key] = w
	}
	return w
}

// failed counts one failure of the address.
func (j *junkCounter) failed(ip string, now time.Time) {
	if ip == "" {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.window(sourceKey(ip), now).n++
}

// over reports whether the address has spent its allowance of failures in
// this window, and how long until the next.
func (j *junkCounter) over(ip string, now time.Time) (bool, time.Duration) {
	if ip == "" {
		return false, 0
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	w := j.window(sourceKey(ip), now)
	if w.n < j.rule.Burst {
		return false, 0
	}
	return true, max(w.start.Add(j.rule.Window()).Sub(now), time.Second)
}

// verified marks a connection an envelope verified on.
func (j *junkCounter) verified(connID string, now time.Time) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if len(j.good) > 10000 {
		clear(j.good)
	}
	j.good[connID] = now
}

// trusted reports whether an envelope verified on the connection lately.
func (j *junkCounter) trusted(connID string, now time.Time) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	at, ok := j.good[connID]
	return ok && now.Sub(at) < trustFor
}
