// Package faults holds named crash points: places where the local runner
// and the soak make an invocation die as a Lambda would (the process stops
// in the middle of its work; the queue redelivers the batch after its
// visibility timeout). They are enabled only by a setting the local runner
// and tests use (FEDGATE_CRASH_POINTS, with FEDGATE_DEV_MODE); deployed
// functions never crash on purpose.
package faults

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// The crash points.
const (
	// AfterPost: the deliverer posted to the peer but has not stored the outcome.
	AfterPost = "deliver.after-post"
	// AfterFanoutWrite: a fan-out page's deliveries are written, their jobs not sent.
	AfterFanoutWrite = "fanout.after-write"
	// MidBatch: some records of a queue batch are done, the batch is not reported.
	MidBatch = "batch.middle"
)

// Crash is the panic value of a crash point.
type Crash struct{ Point string }

func (c Crash) String() string { return "crash at " + c.Point }

// Injector decides at each point whether the invocation dies there. A nil
// Injector never crashes.
type Injector struct {
	chance  map[string]float64
	mu      sync.Mutex
	crashes atomic.Int64
	random  func() float64
}

// Parse reads "point=probability,…" (e.g. "deliver.after-post=0.02").
func Parse(s string) (*Injector, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	in := &Injector{chance: map[string]float64{}, random: rand.Float64}
	for _, part := range strings.Split(s, ",") {
		name, p, ok := strings.Cut(strings.TrimSpace(part), "=")
		f, err := strconv.ParseFloat(p, 64)
		if !ok || err != nil || f < 0 || f > 1 {
			return nil, fmt.Errorf("crash point %q: want name=probability", part)
		}
		switch name {
		case AfterPost, AfterFanoutWrite, MidBatch:
		default:
			return nil, fmt.Errorf("unknown crash point %q", name)
		}
		in.chance[name] = f
	}
	return in, nil
}

// At dies (panics with Crash) at point when chosen.
func (in *Injector) At(point string) {
	if in == nil {
		return
	}
	in.mu.Lock()
	hit := in.random() < in.chance[point]
	in.mu.Unlock()
	if hit {
		in.crashes.Add(1)
		panic(Crash{Point: point})
	}
}

// Crashes is how many invocations died so far.
func (in *Injector) Crashes() int64 {
	if in == nil {
		return 0
	}
	return in.crashes.Load()
}

// IsCrash reports whether a recovered panic value is a crash point's.
func IsCrash(v any) bool {
	_, ok := v.(Crash)
	return ok
}
