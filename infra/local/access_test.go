package local

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/ids"
	"github.com/fedgate/fedgate/shared/localaws/awstest"
	"github.com/fedgate/fedgate/shared/store"
	"github.com/fedgate/fedgate/shared/trace"
)

// The access log attributes each AWS call to the function whose context made
// it and reports what that function's row does not grant: a write to the
// messages table by instance-get (which only reads the instance table) is a
// violation; its own read is not; the runner's unlabelled calls are nobody's.
func TestAccessLogCatchesAnUngrantedCall(t *testing.T) {
	c, err := Start(context.Background(), Options{
		Endpoint: awstest.Endpoint(t), Instances: []InstanceSpec{{Name: "solo", Prefix: awstest.Prefix(t) + "solo-"}},
		Logger: slog.New(slog.DiscardHandler), Teardown: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop(context.Background())
	inst := c.Instances["solo"]
	if v := inst.AccessViolations(); len(v) != 0 {
		t.Fatalf("violations before any function ran: %v", v)
	}
	ctx := trace.Labeled(context.Background(), slog.String("function", "instance-get"))
	if _, err := inst.App.Identity.Document(ctx); err != nil {
		t.Fatal(err)
	}
	if v := inst.AccessViolations(); len(v) != 0 {
		t.Fatalf("instance-get reading its own table: %v", v)
	}
	now := time.Now().UTC()
	rec := store.NewRecord(federation.Message{ID: ids.New(), WorkspaceID: "ws", MessageType: federation.TypeEvent,
		Direction: federation.Outbound, Status: federation.MsgPending, CreatedAt: now, UpdatedAt: now}, "", nil, "")
	if err := inst.App.Store.Messages.Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	want := "instance-get: write table messages (not in its row in shared/routes)"
	if v := inst.AccessViolations(); !slices.Contains(v, want) {
		t.Fatalf("violations %v, want %q", v, want)
	}
}
