package store_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fedgate/fedgate/shared/store"
)

// A rate window grants no more than its limit however many containers ask
// at once; a later window starts afresh.
func TestLimitsGrant(t *testing.T) {
	ctx := context.Background()
	limits := openStore(t).Limits
	window := time.UnixMilli(1_800_000_000_000)
	var granted atomic.Int64
	var wg sync.WaitGroup
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n, err := limits.Grant(ctx, "conn-1", window, 2*time.Second, 5, 23)
				if err != nil {
					t.Error(err)
					return
				}
				if n == 0 {
					return
				}
				granted.Add(int64(n))
			}
		}()
	}
	wg.Wait()
	if granted.Load() != 23 {
		t.Fatalf("granted %d of a window of 23", granted.Load())
	}
	if n, err := limits.Grant(ctx, "conn-1", window.Add(2*time.Second), 2*time.Second, 5, 23); err != nil || n != 5 {
		t.Fatalf("the next window granted %d (%v), want 5", n, err)
	}
	if n, _ := limits.Grant(ctx, "conn-2", window, 2*time.Second, 5, 23); n != 5 {
		t.Fatalf("another key's window granted %d, want 5", n)
	}
}

// At most `slots` deliveries hold a peer's slots at once; a released slot
// and one whose holder's time ran out are taken again.
func TestLimitsSlots(t *testing.T) {
	ctx := context.Background()
	limits := openStore(t).Limits
	now := time.Now()
	var mu sync.Mutex
	var held []store.Slot
	var wg sync.WaitGroup
	for i := range 9 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			slot, ok, err := limits.Acquire(ctx, "https://peer.example.org", 5, string(rune('a'+i)), now, now.Add(time.Minute))
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				held = append(held, slot)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(held) != 5 {
		t.Fatalf("%d of 9 deliveries hold one of 5 slots", len(held))
	}
	if n, _ := limits.InFlight(ctx, "https://peer.example.org", now); n != 5 {
		t.Fatalf("in flight %d, want 5", n)
	}
	if _, ok, _ := limits.Acquire(ctx, "https://peer.example.org", 5, "late", now, now.Add(time.Minute)); ok {
		t.Fatal("a sixth delivery got a slot")
	}
	if _, ok, _ := limits.Acquire(ctx, "https://other.example.org", 5, "other", now, now.Add(time.Minute)); !ok {
		t.Fatal("another peer's deliveries wait for this one's")
	}
	// Releasing someone else's slot does nothing; releasing one's own frees it.
	if err := limits.Release(ctx, store.Slot{Peer: held[0].Peer, Index: held[0].Index, Owner: "intruder"}); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := limits.Acquire(ctx, "https://peer.example.org", 5, "late", now, now.Add(time.Minute)); ok {
		t.Fatal("a slot released by another than its holder was taken")
	}
	if err := limits.Release(ctx, held[0]); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := limits.Acquire(ctx, "https://peer.example.org", 5, "late", now, now.Add(time.Minute)); !ok {
		t.Fatal("a released slot was not taken")
	}
	// A minute later every holder's time is over: a dead holder frees its slot.
	later := now.Add(2 * time.Minute)
	if _, ok, _ := limits.Acquire(ctx, "https://peer.example.org", 5, "after", later, later.Add(time.Minute)); !ok {
		t.Fatal("expired slots stay held")
	}
}
