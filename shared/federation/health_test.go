package federation

import (
	"testing"
	"time"
)

func TestNextHealth(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	h := Health{Circuit: CircuitClosed}
	for i := 1; i < DefaultCircuit.Threshold; i++ {
		h = NextHealth(h, false, now)
		if h.Circuit != CircuitClosed || h.ConsecutiveFailures != i {
			t.Fatalf("after %d failures: %+v", i, h)
		}
	}
	h = NextHealth(h, false, now)
	if h.Circuit != CircuitOpen || h.OpenUntil == nil || h.OpenUntil.Sub(now) != DefaultCircuit.MinOpen {
		t.Fatalf("10th failure does not open for %s: %+v", DefaultCircuit.MinOpen, h)
	}
	// Failed probes double the open period up to an hour.
	wants := []time.Duration{2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 16 * time.Minute, 32 * time.Minute, time.Hour, time.Hour}
	for _, want := range wants {
		h = NextHealth(h, false, now)
		if got := h.OpenUntil.Sub(now); got != want {
			t.Fatalf("open for %s, want %s", got, want)
		}
	}
	if h.FailingSince == nil || !h.FailingSince.Equal(now) {
		t.Errorf("failingSince %v", h.FailingSince)
	}
	// One success closes it and resets everything.
	h = NextHealth(h, true, now.Add(time.Minute))
	if h.Circuit != CircuitClosed || h.ConsecutiveFailures != 0 || h.OpenUntil != nil || h.FailingSince != nil || h.LastSuccessAt == nil {
		t.Fatalf("after success: %+v", h)
	}
}
