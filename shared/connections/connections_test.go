package connections_test

import (
	"context"
	"testing"
	"time"

	"github.com/fedgate/fedgate/shared/app/apptest"
	"github.com/fedgate/fedgate/shared/connections"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/ids"
	"github.com/fedgate/fedgate/shared/store"
)

func inbound(t *testing.T, ctx context.Context, st *store.Connections) *federation.Connection {
	t.Helper()
	now := time.Now().UTC()
	c := &federation.Connection{ID: ids.New(), WorkspaceID: "default", RemoteInstanceID: "peer-" + ids.Token(3), RemoteURL: "https://peer-" + ids.New() + ".invalid",
		Direction: federation.Inbound, Status: federation.StatusPending, CreatedAt: now, UpdatedAt: now}
	if err := st.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	return c
}

// Accepting writes the CONNECT_RESPONSE for the peer together with the
// change; rejecting needs a reason; a connection of another workspace is
// not found; resuming resets the peer's health.
func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	a := apptest.New(t)
	c := inbound(t, ctx, a.Store.Connections)
	if _, err := a.Connections.Accept(ctx, "other", c.ID, connections.ChangeInput{}); err == nil {
		t.Fatal("another workspace accepted the connection")
	}
	accepted, err := a.Connections.Accept(ctx, "default", c.ID, connections.ChangeInput{})
	if err != nil || accepted.Status != federation.StatusActive || accepted.ConnectedAt == nil {
		t.Fatalf("accept: %+v %v", accepted, err)
	}
	notices, _ := a.Store.Messages.Outgoing(ctx, "default", c.ID, federation.EnvConnectResponse)
	if len(notices) != 1 || notices[0].Status != federation.MsgPending {
		t.Fatalf("CONNECT_RESPONSE records: %d", len(notices))
	}
	if _, err := a.Connections.Accept(ctx, "default", c.ID, connections.ChangeInput{}); err == nil {
		t.Fatal("accepted twice")
	}
	if notices, _ := a.Store.Messages.Outgoing(ctx, "default", c.ID, federation.EnvConnectResponse); len(notices) != 1 {
		t.Fatalf("a refused accept wrote a notice: %d", len(notices))
	}
	other := inbound(t, ctx, a.Store.Connections)
	if _, err := a.Connections.Reject(ctx, "default", other.ID, connections.ChangeInput{}); !federation.HasCode(err, federation.CodeValidation) {
		t.Fatalf("reject without a reason: %v", err)
	}
	if err := a.Store.Connections.SetHealth(ctx, "default", c.ID, federation.Health{Circuit: federation.CircuitOpen, ConsecutiveFailures: 11}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Connections.Suspend(ctx, "default", c.ID, connections.ChangeInput{Reason: "maintenance"}); err != nil {
		t.Fatal(err)
	}
	resumed, err := a.Connections.Resume(ctx, "default", c.ID, connections.ChangeInput{})
	if err != nil || resumed.Status != federation.StatusActive || resumed.Health.ConsecutiveFailures != 0 || resumed.Health.Circuit != federation.CircuitClosed {
		t.Fatalf("resume: %+v %v", resumed, err)
	}
	inv, err := a.Connections.Invite(ctx, "team", "admin", connections.InviteInput{})
	if err != nil || inv.Token == "" || inv.ExpiresAt.Sub(time.Now()) > 16*time.Minute {
		t.Fatalf("invite %+v %v", inv, err)
	}
	tooLong := 86401
	if _, err := a.Connections.Invite(ctx, "team", "admin", connections.InviteInput{ExpiresInSeconds: &tooLong}); !federation.HasCode(err, federation.CodeValidation) {
		t.Fatalf("invite for more than a day: %v", err)
	}
}
