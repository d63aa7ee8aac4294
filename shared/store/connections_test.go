package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/ids"
	"github.com/fedgate/fedgate/shared/store"
)

func newConn(ws, remote string, status federation.ConnStatus) *federation.Connection {
	now := time.Now().UTC().Truncate(time.Millisecond)
	return &federation.Connection{
		ID: ids.New(), WorkspaceID: ws, RemoteInstanceID: remote, RemoteURL: "https://" + remote + ".example.org",
		Direction: federation.Inbound, Status: status, CreatedAt: now, UpdatedAt: now,
		RemoteKeys: []federation.RemoteKey{{KeyID: "k1", Alg: "EdDSA", PublicKey: "pem", Status: "current"}},
	}
}

// A connection id is unique across workspaces, and a workspace has at most
// one live connection to a remote; leaving the live statuses frees the slot.
func TestConnectionsUniqueness(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conns := openStore(t).Connections
	first := newConn("ws-a", "peer", federation.StatusPending)
	if err := conns.Create(ctx, first); err != nil {
		t.Fatal(err)
	}
	again := *first
	again.WorkspaceID = "ws-b"
	if err := conns.Create(ctx, &again); !errors.Is(err, store.ErrExists) {
		t.Fatalf("same id in another workspace: %v, want ErrExists", err)
	}
	var live *store.ErrLiveConnection
	if err := conns.Create(ctx, newConn("ws-a", "peer", federation.StatusActive)); !errors.As(err, &live) || live.Existing != first.ID {
		t.Fatalf("second live connection to the remote: %v, want ErrLiveConnection naming %s", err, first.ID)
	}
	if err := conns.Create(ctx, newConn("ws-b", "peer", federation.StatusPending)); err != nil {
		t.Fatalf("another workspace may connect to the same remote: %v", err)
	}
	if _, err := conns.Transition(ctx, "ws-a", first.ID, store.ConnectionChange{To: federation.StatusRejected}); err != nil {
		t.Fatal(err)
	}
	if err := conns.Create(ctx, newConn("ws-a", "peer", federation.StatusPending)); err != nil {
		t.Fatalf("after the first was rejected a new one may start: %v", err)
	}
}

// Every transition is one conditional write: only moves the state machine
// (and the change's From and Direction) allow are applied.
func TestConnectionsTransitions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conns := openStore(t).Connections
	reason := "because"
	tests := []struct {
		name   string
		from   federation.ConnStatus
		change store.ConnectionChange
		want   error
	}{
		{"accept pending", federation.StatusPending, store.ConnectionChange{To: federation.StatusActive, Direction: federation.Inbound}, nil},
		{"accept active", federation.StatusActive, store.ConnectionChange{To: federation.StatusActive, From: []federation.ConnStatus{federation.StatusPending}}, store.ErrConflict},
		{"wrong direction", federation.StatusPending, store.ConnectionChange{To: federation.StatusActive, Direction: federation.Outbound}, store.ErrConflict},
		{"suspend active", federation.StatusActive, store.ConnectionChange{To: federation.StatusSuspended, Reason: &reason}, nil},
		{"suspend pending", federation.StatusPending, store.ConnectionChange{To: federation.StatusSuspended}, store.ErrConflict},
		{"resume suspended", federation.StatusSuspended, store.ConnectionChange{To: federation.StatusActive, ResetHealth: true}, nil},
		{"reactivate disconnected", federation.StatusDisconnected, store.ConnectionChange{To: federation.StatusActive}, store.ErrConflict},
		{"disconnect rejected", federation.StatusRejected, store.ConnectionChange{To: federation.StatusDisconnected}, store.ErrConflict},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newConn("ws", fmt.Sprintf("peer-%d", i), tt.from)
			c.Health = federation.Health{Circuit: federation.CircuitOpen, ConsecutiveFailures: 12}
			if err := conns.Create(ctx, c); err != nil {
				t.Fatal(err)
			}
			got, err := conns.Transition(ctx, "ws", c.ID, tt.change)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			stored, _ := conns.Get(ctx, "ws", c.ID)
			if tt.want != nil {
				if stored.Status != tt.from || got == nil || got.Status != tt.from {
					t.Fatalf("refused change moved it to %s (returned %v)", stored.Status, got)
				}
				return
			}
			if stored.Status != tt.change.To {
				t.Fatalf("status %s, want %s", stored.Status, tt.change.To)
			}
			if tt.change.Reason != nil && stored.Reason != reason {
				t.Errorf("reason %q", stored.Reason)
			}
			if tt.change.ResetHealth && (stored.Health.ConsecutiveFailures != 0 || stored.Health.Circuit != federation.CircuitClosed) {
				t.Errorf("health not reset: %+v", stored.Health)
			}
		})
	}
	if _, err := conns.Transition(ctx, "ws", "no-such-id", store.ConnectionChange{To: federation.StatusActive}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
}

// 20 users racing to accept one connection: exactly one wins.
func TestConnectionsAcceptRace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conns := openStore(t).Connections
	c := newConn("ws", "peer", federation.StatusPending)
	if err := conns.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	var wins, conflicts atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			now := time.Now()
			_, err := conns.Transition(ctx, "ws", c.ID, store.ConnectionChange{
				To: federation.StatusActive, From: []federation.ConnStatus{federation.StatusPending}, ConnectedAt: &now,
			})
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, store.ErrConflict):
				conflicts.Add(1)
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 || conflicts.Load() != 19 {
		t.Fatalf("%d wins, %d conflicts; want 1 and 19", wins.Load(), conflicts.Load())
	}
}

// Reads are keyed by the workspace; the signed endpoints find a connection by
// id alone.
func TestConnectionsIsolationAndLookup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conns := openStore(t).Connections
	c := newConn("ws-a", "peer", federation.StatusActive)
	if err := conns.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, err := conns.Get(ctx, "ws-b", c.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("another workspace reads the connection: %v", err)
	}
	got, err := conns.GetByID(ctx, c.ID)
	if err != nil || got.WorkspaceID != "ws-a" || len(got.RemoteKeys) != 1 || got.RemoteKeys[0].KeyID != "k1" {
		t.Fatalf("GetByID: %+v %v", got, err)
	}
	if _, err := conns.GetActive(ctx, "ws-a", c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := conns.Transition(ctx, "ws-a", c.ID, store.ConnectionChange{To: federation.StatusSuspended}); err != nil {
		t.Fatal(err)
	}
	if _, err := conns.GetActive(ctx, "ws-a", c.ID); !federation.HasCode(err, federation.CodeNotActive) {
		t.Fatalf("GetActive of a suspended connection: %v", err)
	}
	h := federation.Health{Circuit: federation.CircuitOpen, ConsecutiveFailures: 10}
	if err := conns.SetHealth(ctx, "ws-a", c.ID, h); err != nil {
		t.Fatal(err)
	}
	keys := []federation.RemoteKey{{KeyID: "k2", Alg: "RS256", PublicKey: "pem2", Status: "current"}}
	if err := conns.SetRemoteKeys(ctx, "ws-a", c.ID, keys, time.Now()); err != nil {
		t.Fatal(err)
	}
	got, _ = conns.Get(ctx, "ws-a", c.ID)
	if got.Health.ConsecutiveFailures != 10 || got.RemoteKeys[0].KeyID != "k2" {
		t.Fatalf("health/keys not stored: %+v %+v", got.Health, got.RemoteKeys)
	}
	if err := conns.SetHealth(ctx, "ws-b", c.ID, h); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("SetHealth through another workspace: %v", err)
	}
}

// Lists are newest first, filter by status and page with cursors that only
// work for the list that made them.
func TestConnectionsList(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conns := openStore(t).Connections
	var want []string
	for i := range 5 {
		status := federation.StatusActive
		if i%2 == 1 {
			status = federation.StatusPending
		}
		c := newConn("ws", fmt.Sprintf("peer-%d", i), status)
		if err := conns.Create(ctx, c); err != nil {
			t.Fatal(err)
		}
		want = append([]string{c.ID}, want...)
		time.Sleep(2 * time.Millisecond) // ids are time-ordered
	}
	var got []string
	cursor := ""
	for {
		page, err := conns.List(ctx, "ws", "", 2, cursor)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range page.Items {
			got = append(got, c.ID)
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("paged list %v, want newest first %v", got, want)
	}
	pending, err := conns.List(ctx, "ws", federation.StatusPending, 10, "")
	if err != nil || len(pending.Items) != 2 {
		t.Fatalf("PENDING filter: %d items, %v", len(pending.Items), err)
	}
	first, _ := conns.List(ctx, "ws", "", 1, "")
	if _, err := conns.List(ctx, "other-ws", "", 1, first.NextCursor); !errors.Is(err, store.ErrBadCursor) {
		t.Fatalf("a cursor of another workspace's list: %v", err)
	}
}

// Writes passed to Create are all or nothing: a spent invite stores no
// connection, and an invite is single use.
func TestConnectionsCreateWithInvite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t)
	now := time.Now()
	if err := st.Invites.Create(ctx, "tok", "ws-team", "admin", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if ws, err := st.Invites.Workspace(ctx, "tok", now); err != nil || ws != "ws-team" {
		t.Fatalf("invite workspace %q %v", ws, err)
	}
	c := newConn("ws-team", "peer", federation.StatusActive)
	if err := st.Connections.Create(ctx, c, st.Invites.ConsumeWrite("tok", c.ID, now)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Invites.Workspace(ctx, "tok", now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a used invite still valid: %v", err)
	}
	second := newConn("ws-team", "other-peer", federation.StatusActive)
	if err := st.Connections.Create(ctx, second, st.Invites.ConsumeWrite("tok", second.ID, now)); !errors.Is(err, store.ErrPrecondition) {
		t.Fatalf("second use of an invite: %v, want ErrPrecondition", err)
	}
	if _, err := st.Connections.GetByID(ctx, second.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("the refused connection was stored")
	}
	if err := st.Invites.Create(ctx, "old", "ws-team", "admin", now.Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Invites.Workspace(ctx, "old", now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an expired invite is valid: %v", err)
	}
}

// When an open circuit's wait is over exactly one delivery probes the peer;
// the others wait, until the probe's lease ends.
func TestConnectionsClaimProbe(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conns := openStore(t).Connections
	now := time.Now().UTC()
	later := now.Add(time.Minute)
	c := newConn("ws", "peer", federation.StatusActive)
	c.Health = federation.Health{Circuit: federation.CircuitOpen, ConsecutiveFailures: 10, OpenUntil: &later, OpenFor: 60}
	if err := conns.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	if won, err := conns.ClaimProbe(ctx, "ws", c.ID, now, now.Add(time.Minute)); err != nil || won {
		t.Fatalf("a probe while the circuit is still open: %v %v", won, err)
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			won, err := conns.ClaimProbe(ctx, "ws", c.ID, later, later.Add(time.Minute))
			if err != nil {
				t.Error(err)
			}
			if won {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d probes, want exactly 1", wins.Load())
	}
	if won, _ := conns.ClaimProbe(ctx, "ws", c.ID, later.Add(2*time.Minute), later.Add(3*time.Minute)); !won {
		t.Fatal("after the prober's lease no one may probe")
	}
	h := federation.NextHealth(c.Health, true, later)
	if err := conns.SetHealth(ctx, "ws", c.ID, h); err != nil {
		t.Fatal(err)
	}
	if won, _ := conns.ClaimProbe(ctx, "ws", c.ID, later.Add(4*time.Minute), later.Add(5*time.Minute)); won {
		t.Fatal("a closed circuit was probed")
	}
}

// A workspace's connections list newest first by createdAt, whatever their
// ids (a peer chooses an inbound connection's id), a status filter within;
// connections stored before the index existed are put on it once.
func TestConnectionsNewestFirst(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conns := openStore(t).Connections
	base := time.Now().UTC().Truncate(time.Millisecond)
	var want []string
	for i, id := range []string{"zzz-oldest", "aaa-middle", "mmm-newest"} {
		c := newConn("ws", fmt.Sprintf("peer-%d", i), federation.StatusActive)
		c.ID, c.CreatedAt = id, base.Add(time.Duration(i)*time.Minute)
		if i == 1 {
			c.Status = federation.StatusPending
		}
		if err := conns.Create(ctx, c); err != nil {
			t.Fatal(err)
		}
		want = append([]string{id}, want...)
	}
	page, err := conns.List(ctx, "ws", "", 10, "")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range page.Items {
		got = append(got, c.ID)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("list %v, want newest first %v", got, want)
	}
	page, _ = conns.List(ctx, "ws", federation.StatusActive, 10, "")
	if len(page.Items) != 2 || page.Items[0].ID != "mmm-newest" {
		t.Fatalf("active only: %+v", page.Items)
	}
	if again, err := conns.IndexAll(ctx); err != nil || !again {
		t.Fatalf("first IndexAll: %v %v", again, err)
	}
	if again, err := conns.IndexAll(ctx); err != nil || again {
		t.Fatalf("IndexAll after it is done: %v %v", again, err)
	}
}
