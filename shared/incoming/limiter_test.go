package incoming

import (
	"testing"
	"time"
)

// Junk envelopes with unknown keys make at most one fetch per connection
// and period.
func TestFetchLimiter(t *testing.T) {
	l := newFetchLimiter(time.Minute)
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	steps := []struct {
		conn  string
		after time.Duration
		want  bool
	}{
		{"c1", 0, true}, {"c1", time.Second, false}, {"c2", time.Second, true},
		{"c1", 59 * time.Second, false}, {"c1", time.Minute, true}, {"c1", time.Minute + time.Second, false},
	}
	for _, s := range steps {
		if got := l.allow(s.conn, now.Add(s.after)); got != s.want {
			t.Errorf("%s at +%s: allow %v, want %v", s.conn, s.after, got, s.want)
		}
	}
	for i := range 10001 {
		l.allow(string(rune(i)), now)
	}
	l.allow("late", now.Add(2*time.Minute))
	if len(l.last) > 2 {
		t.Errorf("the limiter keeps %d entries after they aged out", len(l.last))
	}
}
