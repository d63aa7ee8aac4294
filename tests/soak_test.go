package tests

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/fedgate/fedgate/infra/local/soak"
	"github.com/fedgate/fedgate/shared/localaws/awstest"
)

// The short soak (make soak runs 1,000 events): a hub and three spokes
// under an outage, a suspension, key rotations, crashing invocations and
// doubled jobs end with every event exactly once at every receiver, nothing
// pending, and the subscriptions equal on both sides.
func TestSoakShort(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("the soak takes a minute or two")
	}
	res, err := soak.Run(context.Background(), soak.Options{
		Endpoint: awstest.Endpoint(t), Events: 60, Auth: testAuth, CrashPoints: soak.DefaultCrashPoints,
		Timeout: 5 * time.Minute, Log: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res.Line())
	if !res.OK() {
		t.Fatal(res.Line())
	}
}
