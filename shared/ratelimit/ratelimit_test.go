package ratelimit

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/fedgate/fedgate/shared/localaws/awstest"
	"github.com/fedgate/fedgate/shared/store"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// Three containers serving one peer together let through no more than the
// burst in a window, tell the others to wait until the next window, and let
// the next window's requests through; another key has its own windows.
func TestLimiterAcrossContainers(t *testing.T) {
	ctx := context.Background()
	limits := awstest.Store(t).Limits
	rule := Rule{Rate: 10, Burst: 40} // 4 s windows of 40
	clock := time.UnixMilli(1_800_000_000_000).Add(500 * time.Millisecond)
	now := func() time.Time { return clock }
	var containers []*Limiter
	for range 3 {
		l := New("conn", rule, limits, quiet)
		l.now = now
		containers = append(containers, l)
	}
	allowed, refused := 0, 0
	var waits []time.Duration
	for i := range 90 {
		ok, wait := containers[i%3].Allow(ctx, "c1")
		if ok {
			allowed++
		} else {
			refused++
			waits = append(waits, wait)
		}
	}
	if allowed > 40 || allowed < 40-3*2 {
		t.Fatalf("%d allowed in a window of 40 (each container may leave a share of 2 unspent)", allowed)
	}
	for _, w := range waits {
		if w != 4*time.Second { // 3.5 s to the next window, in whole seconds
			t.Fatalf("Retry-After %s, want 4s", w)
		}
	}
	if ok, _ := containers[0].Allow(ctx, "c2"); !ok {
		t.Fatal("another key was refused")
	}
	clock = clock.Add(4 * time.Second)
	if ok, _ := containers[1].Allow(ctx, "c1"); !ok {
		t.Fatal("the next window refused")
	}
}

// A limiter whose store cannot be reached lets requests through.
func TestLimiterFailsOpen(t *testing.T) {
	names := store.PrefixedNames("missing-" + awstest.Prefix(t))
	broken := store.Open(awstest.Config(t), names, store.Retention{}).Limits
	l := New("ws", Rule{Rate: 1, Burst: 1}, broken, quiet)
	for range 3 {
		if ok, _ := l.Allow(context.Background(), "ws-1"); !ok {
			t.Fatal("refused while the store is unreachable")
		}
	}
}

// Many goroutines of one container (the local runner) share its window.
func TestLimiterConcurrent(t *testing.T) {
	l := New("conn", Rule{Rate: 1, Burst: 50}, awstest.Store(t).Limits, quiet)
	fixed := time.UnixMilli(1_800_000_000_000)
	l.now = func() time.Time { return fixed } // no window boundary mid-test
	var mu sync.Mutex
	allowed := 0
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				if ok, _ := l.Allow(context.Background(), "c1"); ok {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if allowed != 50 {
		t.Fatalf("%d of 160 allowed, want the burst of 50", allowed)
	}
}
