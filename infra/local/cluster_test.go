package local

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fedgate/fedgate/infra/local/devjwt"
	"github.com/fedgate/fedgate/shared/localaws/awstest"
	"github.com/fedgate/fedgate/shared/routes"
)

// Scheduled functions run at their production rate unless a test compresses
// them, so every schedule in the route table must be one the runner reads.
func TestRatePeriod(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want time.Duration
	}{
		{"rate(1 minute)", time.Minute},
		{"rate(5 minutes)", 5 * time.Minute},
		{"rate(1 hour)", time.Hour},
		{"rate(2 days)", 48 * time.Hour},
		{"rate(1 minutes)", 0},
		{"rate(5 minute)", 0},
		{"rate(0 minutes)", 0},
		{"rate(1 second)", 0},
		{"cron(0 12 * * ? *)", 0},
		{"rate(1 minute", 0},
	} {
		got, err := ratePeriod(tc.expr)
		if got != tc.want || (err != nil) != (tc.want == 0) {
			t.Errorf("ratePeriod(%q) = %s, %v; want %s", tc.expr, got, err, tc.want)
		}
	}
	for _, r := range routes.All {
		if r.IsScheduled() {
			if _, err := ratePeriod(r.Schedule); err != nil {
				t.Errorf("route %s: %v", r.Name, err)
			}
		}
	}
}

// An idle runner does not save its state over and over (each save scans
// every table); a write is saved within SaveEvery, and after Stop every
// write is saved.
func TestClusterSavesChanges(t *testing.T) {
	ctx := context.Background()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	const saveEvery = 300 * time.Millisecond
	c, err := Start(ctx, Options{
		Endpoint: awstest.Endpoint(t), StateDir: dir, Auth: devjwt.New(key), Teardown: true,
		Instances: []InstanceSpec{{Name: "hub", Prefix: awstest.Prefix(t)}},
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)), SaveEvery: saveEvery,
	})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			c.Stop(ctx)
		}
	})
	tables := filepath.Join(dir, "hub", tablesFile)
	saved := func() (time.Time, string) {
		t.Helper()
		st, err := os.Stat(tables)
		if err != nil {
			return time.Time{}, ""
		}
		data, err := os.ReadFile(tables)
		if err != nil {
			t.Fatal(err)
		}
		return st.ModTime(), string(data)
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}

	// The new identity is a change: it is saved without a Stop.
	waitFor("the first save", func() bool { at, _ := saved(); return !at.IsZero() })
	first, _ := saved()
	// Nothing to wait on: a save that should not happen is seen only by
	// letting several periods pass.
	time.Sleep(5 * saveEvery)
	if at, _ := saved(); !at.Equal(first) {
		t.Fatalf("state saved again at %s with nothing written since %s", at, first)
	}

	if err := c.Instances["hub"].App.Store.Invites.Create(ctx, "invite-token-1", "ws-saved-by-the-runner", "admin", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	waitFor("the write to be saved", func() bool { _, data := saved(); return strings.Contains(data, "ws-saved-by-the-runner") })

	if err := c.Instances["hub"].App.Store.Invites.Create(ctx, "invite-token-2", "ws-written-just-before-stop", "admin", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	c.Stop(ctx)
	stopped = true
	if _, data := saved(); !strings.Contains(data, "ws-written-just-before-stop") {
		t.Error("a write made just before Stop is not in the saved state")
	}
}
