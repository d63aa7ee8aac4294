package tests

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/routes"
	"github.com/fedgate/fedgate/shared/store"
)

func TestHandshakeAcceptAndDisconnect(t *testing.T) {
	t.Parallel()
	c := clusterWith(t, fastRetries, "hub", "spoke")
	hub, spoke := c.Instances["hub"], c.Instances["spoke"]
	hubTok, spokeTok := token(t, "ws-hub"), token(t, "default")

	r := call(t, hub, "POST", "/connections/initiate", hubTok, map[string]string{"remoteUrl": spoke.URL + "/api/v1/federation/"})
	if r.Status != http.StatusCreated {
		t.Fatalf("initiate: %d %s", r.Status, r.Body)
	}
	var out federation.Connection
	r.decode(t, &out)
	if out.Status != federation.StatusPending || out.Direction != federation.Outbound || out.RemoteURL != spoke.URL || out.WorkspaceID != "ws-hub" {
		t.Fatalf("hub connection %+v", out)
	}

	// The spoke sees it INBOUND PENDING in its default inbound workspace.
	var list struct{ Items []federation.Connection }
	call(t, spoke, "GET", "/connections?status=PENDING", spokeTok, nil).decode(t, &list)
	if len(list.Items) != 1 || list.Items[0].ID != out.ID || list.Items[0].Direction != federation.Inbound {
		t.Fatalf("spoke pending list %+v", list.Items)
	}
	hubDoc := call(t, hub, "GET", "/instance", "", nil)
	var hubID struct{ InstanceID string }
	hubDoc.decode(t, &hubID)
	if list.Items[0].RemoteInstanceID != hubID.InstanceID || list.Items[0].RemoteURL != hub.URL {
		t.Fatalf("spoke's view of the hub: %+v", list.Items[0])
	}

	// A second initiate to the same instance from the same workspace: 409 naming the first.
	if r := call(t, hub, "POST", "/connections/initiate", hubTok, map[string]string{"remoteUrl": spoke.URL}); r.Status != http.StatusConflict {
		t.Fatalf("second initiate: %d %s", r.Status, r.Body)
	} else if !contains(r.Body, out.ID) {
		t.Errorf("409 does not name the existing connection: %s", r.Body)
	}
	// The hub cannot accept its own outbound connection.
	if r := call(t, hub, "POST", "/connections/"+out.ID+"/accept", hubTok, nil); r.Status != http.StatusConflict {
		t.Fatalf("accept own outbound: %d %s", r.Status, r.Body)
	}

	if r := call(t, spoke, "POST", "/connections/"+out.ID+"/accept", spokeTok, map[string]any{"metadata": map[string]string{"team": "a"}}); r.Status != http.StatusOK {
		t.Fatalf("accept: %d %s", r.Status, r.Body)
	}
	eventually(t, 15*time.Second, "hub ACTIVE via CONNECT_RESPONSE", func() bool {
		return connection(t, hub, hubTok, out.ID).Status == federation.StatusActive
	})
	if got := connection(t, spoke, spokeTok, out.ID); got.Status != federation.StatusActive || got.ConnectedAt == nil {
		t.Fatalf("spoke connection %+v", got)
	}
	// Accepting again is an illegal transition.
	if r := call(t, spoke, "POST", "/connections/"+out.ID+"/accept", spokeTok, nil); r.Status != http.StatusConflict || r.errorCode(t) != "conflict" {
		t.Fatalf("second accept: %d %s", r.Status, r.Body)
	}

	// Disconnect from the spoke side reaches the hub.
	if r := call(t, spoke, "POST", "/connections/"+out.ID+"/disconnect", spokeTok, map[string]string{"reason": "done"}); r.Status != http.StatusOK {
		t.Fatalf("disconnect: %d %s", r.Status, r.Body)
	}
	eventually(t, 15*time.Second, "hub DISCONNECTED", func() bool {
		got := connection(t, hub, hubTok, out.ID)
		return got.Status == federation.StatusDisconnected && got.Reason == "done"
	})
	// A new connection to the same instance is allowed once the old one is over.
	if r := call(t, hub, "POST", "/connections/initiate", hubTok, map[string]string{"remoteUrl": spoke.URL}); r.Status != http.StatusCreated {
		t.Fatalf("initiate after disconnect: %d %s", r.Status, r.Body)
	}
}

func TestHubDisconnectAndReject(t *testing.T) {
	t.Parallel()
	c := clusterWith(t, fastRetries, "hub", "spoke")
	hub, spoke := c.Instances["hub"], c.Instances["spoke"]
	hubTok, spokeTok := token(t, "ws-hub"), token(t, "default")

	id := connect(t, hub, spoke, hubTok, spokeTok)
	if r := call(t, hub, "POST", "/connections/"+id+"/disconnect", hubTok, nil); r.Status != http.StatusOK {
		t.Fatalf("disconnect: %d %s", r.Status, r.Body)
	}
	eventually(t, 15*time.Second, "spoke DISCONNECTED", func() bool {
		return connection(t, spoke, spokeTok, id).Status == federation.StatusDisconnected
	})

	// Reject needs a reason, and the hub learns it.
	r := call(t, hub, "POST", "/connections/initiate", hubTok, map[string]string{"remoteUrl": spoke.URL})
	var pending federation.Connection
	r.decode(t, &pending)
	if r := call(t, spoke, "POST", "/connections/"+pending.ID+"/reject", spokeTok, map[string]string{}); r.Status != http.StatusBadRequest || !contains(r.Body, "reason") {
		t.Fatalf("reject without reason: %d %s", r.Status, r.Body)
	}
	if r := call(t, spoke, "POST", "/connections/"+pending.ID+"/reject", spokeTok, map[string]string{"reason": "unknown org"}); r.Status != http.StatusOK {
		t.Fatalf("reject: %d %s", r.Status, r.Body)
	}
	eventually(t, 15*time.Second, "hub REJECTED with the reason", func() bool {
		got := connection(t, hub, hubTok, pending.ID)
		return got.Status == federation.StatusRejected && got.Reason == "unknown org"
	})
}

func TestInviteHandshake(t *testing.T) {
	t.Parallel()
	c := clusterWith(t, fastRetries, "hub", "spoke")
	hub, spoke := c.Instances["hub"], c.Instances["spoke"]
	spokeAdmin := token(t, "ws-team", routes.ScopeAdmin)

	if r := call(t, spoke, "POST", "/connections/invites", memberToken(t, "ws-team"), nil); r.Status != http.StatusForbidden {
		t.Fatalf("invite as non-admin: %d", r.Status)
	}
	if r := call(t, spoke, "POST", "/connections/invites", spokeAdmin, map[string]int{"expiresInSeconds": 5}); r.Status != http.StatusBadRequest {
		t.Fatalf("invite with too short a life: %d", r.Status)
	}
	r := call(t, spoke, "POST", "/connections/invites", spokeAdmin, map[string]int{"expiresInSeconds": 600})
	if r.Status != http.StatusCreated {
		t.Fatalf("invite: %d %s", r.Status, r.Body)
	}
	var inv struct {
		Token     string
		ExpiresAt time.Time
	}
	r.decode(t, &inv)

	r = call(t, hub, "POST", "/connections/initiate", token(t, "ws-a"), map[string]string{"remoteUrl": spoke.URL, "inviteToken": inv.Token})
	if r.Status != http.StatusCreated {
		t.Fatalf("initiate with invite: %d %s", r.Status, r.Body)
	}
	var conn federation.Connection
	r.decode(t, &conn)
	if conn.Status != federation.StatusActive {
		t.Fatalf("hub side %s, want ACTIVE at once", conn.Status)
	}
	if got := connection(t, spoke, spokeAdmin, conn.ID); got.Status != federation.StatusActive || got.WorkspaceID != "ws-team" {
		t.Fatalf("spoke side %+v", got)
	}
	if r := call(t, spoke, "GET", "/connections/"+conn.ID, token(t, "default"), nil); r.Status != http.StatusNotFound {
		t.Fatalf("invited connection visible in the default workspace: %d", r.Status)
	}

	// Reusing the invite (from another hub workspace) is refused, and nothing is stored.
	r = call(t, hub, "POST", "/connections/initiate", token(t, "ws-b"), map[string]string{"remoteUrl": spoke.URL, "inviteToken": inv.Token})
	if r.Status != http.StatusForbidden {
		t.Fatalf("reused invite: %d %s", r.Status, r.Body)
	}
	// An expired invite likewise.
	expired := "expired-token-for-test"
	if err := spoke.App.Store.Invites.Create(t.Context(), expired, "ws-team", "test", time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	r = call(t, hub, "POST", "/connections/initiate", token(t, "ws-c"), map[string]string{"remoteUrl": spoke.URL, "inviteToken": expired})
	if r.Status != http.StatusForbidden {
		t.Fatalf("expired invite: %d %s", r.Status, r.Body)
	}
	var teamList, defaultList struct{ Items []federation.Connection }
	call(t, spoke, "GET", "/connections", spokeAdmin, nil).decode(t, &teamList)
	call(t, spoke, "GET", "/connections", token(t, "default"), nil).decode(t, &defaultList)
	if len(teamList.Items) != 1 || len(defaultList.Items) != 0 {
		t.Fatalf("refused invites stored connections: team %d, default %d", len(teamList.Items), len(defaultList.Items))
	}
}

func TestConcurrentAcceptsOneWins(t *testing.T) {
	t.Parallel()
	c := clusterWith(t, fastRetries, "hub", "spoke")
	hub, spoke := c.Instances["hub"], c.Instances["spoke"]
	hubTok, spokeTok := token(t, "ws-hub"), token(t, "default")
	r := call(t, hub, "POST", "/connections/initiate", hubTok, map[string]string{"remoteUrl": spoke.URL})
	var conn federation.Connection
	r.decode(t, &conn)

	var wg sync.WaitGroup
	statuses := make([]int, 20)
	for i := range statuses {
		wg.Go(func() {
			statuses[i] = call(t, spoke, "POST", "/connections/"+conn.ID+"/accept", spokeTok, nil).Status
		})
	}
	wg.Wait()
	ok, conflict := 0, 0
	for _, s := range statuses {
		switch s {
		case http.StatusOK:
			ok++
		case http.StatusConflict:
			conflict++
		}
	}
	if ok != 1 || conflict != 19 {
		t.Fatalf("accepts: %d ok, %d conflict (%v)", ok, conflict, statuses)
	}
	// Exactly one CONNECT_RESPONSE was queued: the hub turns ACTIVE once.
	eventually(t, 15*time.Second, "hub ACTIVE", func() bool {
		return connection(t, hub, hubTok, conn.ID).Status == federation.StatusActive
	})
}

func TestWorkspaceIsolation(t *testing.T) {
	t.Parallel()
	c := clusterWith(t, fastRetries, "hub", "spoke")
	hub, spoke := c.Instances["hub"], c.Instances["spoke"]
	tokA, tokB := token(t, "ws-a"), token(t, "ws-b")
	id := connect(t, hub, spoke, tokA, token(t, "default"))

	for _, req := range []struct{ method, path string }{
		{"GET", "/connections/" + id},
		{"POST", "/connections/" + id + "/disconnect"},
		{"POST", "/connections/" + id + "/suspend"},
		{"POST", "/connections/" + id + "/accept"},
	} {
		if r := call(t, hub, req.method, req.path, tokB, nil); r.Status != http.StatusNotFound || r.errorCode(t) != "not_found" {
			t.Errorf("workspace B %s %s: %d %s", req.method, req.path, r.Status, r.Body)
		}
	}
	var list struct{ Items []federation.Connection }
	call(t, hub, "GET", "/connections", tokB, nil).decode(t, &list)
	if len(list.Items) != 0 {
		t.Fatalf("workspace B lists A's connections: %+v", list.Items)
	}
	// A cursor of A's list cannot be replayed by B.
	var page struct {
		Items      []federation.Connection
		NextCursor string
	}
	call(t, hub, "POST", "/connections/initiate", tokA, map[string]string{"remoteUrl": spoke.URL}) // conflict, but harmless
	call(t, hub, "GET", "/connections?limit=1", tokA, nil).decode(t, &page)
	if page.NextCursor != "" {
		if r := call(t, hub, "GET", "/connections?cursor="+page.NextCursor, tokB, nil); r.Status != http.StatusBadRequest {
			t.Fatalf("B with A's cursor: %d %s", r.Status, r.Body)
		}
	}
	if got := connection(t, hub, tokA, id); got.Status != federation.StatusActive {
		t.Fatalf("B's attempts changed A's connection: %s", got.Status)
	}
}

func TestSuspendResume(t *testing.T) {
	t.Parallel()
	c := clusterWith(t, fastRetries, "hub", "spoke")
	hub, spoke := c.Instances["hub"], c.Instances["spoke"]
	hubTok := token(t, "ws-hub")
	id := connect(t, hub, spoke, hubTok, token(t, "default"))
	if r := call(t, hub, "POST", "/connections/"+id+"/resume", hubTok, nil); r.Status != http.StatusConflict {
		t.Fatalf("resume an ACTIVE connection: %d", r.Status)
	}
	if r := call(t, hub, "POST", "/connections/"+id+"/suspend", hubTok, nil); r.Status != http.StatusOK {
		t.Fatalf("suspend: %d %s", r.Status, r.Body)
	}
	if got := connection(t, hub, hubTok, id); got.Status != federation.StatusSuspended {
		t.Fatalf("status %s", got.Status)
	}
	// Suspension is local: the spoke still shows ACTIVE.
	if got := connection(t, spoke, token(t, "default"), id); got.Status != federation.StatusActive {
		t.Fatalf("spoke status %s", got.Status)
	}
	if r := call(t, hub, "POST", "/connections/"+id+"/resume", hubTok, nil); r.Status != http.StatusOK {
		t.Fatalf("resume: %d %s", r.Status, r.Body)
	}
	if _, err := hub.App.Store.Connections.Get(t.Context(), "ws-hub", id); err != nil {
		t.Fatal(err)
	}
	_ = store.ErrNotFound
}

func contains(body []byte, s string) bool { return len(s) > 0 && stringsContains(string(body), s) }
