package incoming

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fedgate/fedgate/shared/identity"
)

// Junk envelopes with unknown keys make at most one fetch per connection
// and period, and every envelope of the period sees that fetch's result.
func TestKeyFetches(t *testing.T) {
	ctx := context.Background()
	l := newKeyFetches(time.Minute)
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	fetches := 0
	steps := []struct {
		conn  string
		after time.Duration
		fresh bool // a new fetch runs
	}{
		{"c1", 0, true}, {"c1", time.Second, false}, {"c2", time.Second, true},
		{"c1", 59 * time.Second, false}, {"c1", time.Minute, true}, {"c1", time.Minute + time.Second, false},
	}
	for _, s := range steps {
		before := fetches
		doc, _, err := l.fetch(ctx, s.conn, now.Add(s.after), func() (*identity.Document, error) {
			fetches++
			return &identity.Document{InstanceID: s.conn + "@" + s.after.String()}, nil
		})
		if err != nil || (fetches > before) != s.fresh {
			t.Errorf("%s at +%s: fresh fetch %v (%v), want %v", s.conn, s.after, fetches > before, err, s.fresh)
		}
		if s.fresh && doc.InstanceID != s.conn+"@"+s.after.String() || !s.fresh && doc == nil {
			t.Errorf("%s at +%s: got %+v", s.conn, s.after, doc)
		}
	}
	for i := range 10001 {
		_, _, _ = l.fetch(ctx, strconv.Itoa(i), now, func() (*identity.Document, error) { return nil, nil })
	}
	_, _, _ = l.fetch(ctx, "late", now.Add(2*time.Minute), func() (*identity.Document, error) { return nil, nil })
	if len(l.last) > 2 {
		t.Errorf("%d fetches kept after they aged out", len(l.last))
	}
}

// Envelopes that arrive while a fetch runs wait for it and share its result
// (a peer's burst right after a key rotation all verifies). In a bubble,
// synctest.Wait returns once every caller has joined the fetch in flight.
func TestKeyFetchesShareAFetchInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newKeyFetches(time.Minute)
		now := time.Now()
		release := make(chan struct{})
		var runs atomic.Int32
		var wg sync.WaitGroup
		results := make([]*identity.Document, 8)
		for i := range results {
			wg.Go(func() {
				results[i], _, _ = l.fetch(context.Background(), "c1", now, func() (*identity.Document, error) {
					runs.Add(1)
					<-release
					return &identity.Document{InstanceID: "peer"}, nil
				})
			})
		}
		synctest.Wait()
		close(release)
		wg.Wait()
		if runs.Load() != 1 {
			t.Fatalf("%d fetches, want 1", runs.Load())
		}
		for i, d := range results {
			if d == nil || d.InstanceID != "peer" {
				t.Errorf("caller %d got %+v", i, d)
			}
		}
		// A caller that gives up waiting gets its context's error.
		l2 := newKeyFetches(time.Minute)
		hold := make(chan struct{})
		go func() {
			_, _, _ = l2.fetch(context.Background(), "c1", now, func() (*identity.Document, error) { <-hold; return nil, nil })
		}()
		synctest.Wait()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, _, err := l2.fetch(ctx, "c1", now, nil); err == nil {
			t.Fatal("a cancelled wait returned no error")
		}
		close(hold)
	})
}
