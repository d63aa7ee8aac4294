package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/fedgate/fedgate/infra/local"
	"github.com/fedgate/fedgate/infra/local/devjwt"
	"github.com/fedgate/fedgate/shared/config"
	"github.com/fedgate/fedgate/shared/connections"
	"github.com/fedgate/fedgate/shared/events"
	"github.com/fedgate/fedgate/shared/federation"
)

// fairness measures what one slow peer costs the others: a hub publishes
// to two healthy spokes and a third that answers every envelope after 8 s,
// and the delivery latency to the healthy two (publish to DELIVERED) is
// compared with a round in the same run where the third answers at once.
func fairness(ctx context.Context, endpoint string) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	names := []string{"hub", "healthy1", "healthy2", "slow"}
	prefix := fmt.Sprintf("fair%d-", time.Now().UnixNano()%1_000_000)
	var specs []local.InstanceSpec
	for _, n := range names {
		specs = append(specs, local.InstanceSpec{Name: n, Prefix: prefix + n + "-"})
	}
	c, err := local.Start(ctx, local.Options{
		Endpoint: endpoint, Instances: specs, Auth: devjwt.New(key), Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Visibility: 30 * time.Second, ScheduleEvery: 5 * time.Second,
		RouteConcurrency: true, // AWS's numbers: deliver's 50 batches against a peer's 20 in flight
		Configure: func(_ string, cfg *config.Config) {
			cfg.Retry = federation.RetryPolicy{BaseDelay: 200 * time.Millisecond, MaxDelay: 2 * time.Second, MaxAttempts: 20, MaxAge: time.Hour}
		},
	})
	if err != nil {
		return err
	}
	defer c.Stop(context.WithoutCancel(ctx))
	hub := c.Instances["hub"]
	const ws, spokeWS = "ws-hub", "default"
	conns := map[string]string{} // spoke name → connection id
	for _, n := range names[1:] {
		spoke := c.Instances[n]
		conn, err := hub.App.Connections.Initiate(ctx, ws, connections.InitiateInput{RemoteURL: spoke.URL})
		if err != nil {
			return fmt.Errorf("initiate %s: %w", n, err)
		}
		if _, err := spoke.App.Connections.Accept(ctx, spokeWS, conn.ID, connections.ChangeInput{}); err != nil {
			return fmt.Errorf("accept %s: %w", n, err)
		}
		conns[n] = conn.ID
	}
	for n, id := range conns {
		if err := waitUntil(ctx, time.Minute, func() bool {
			got, err := hub.App.Store.Connections.Get(ctx, ws, id)
			return err == nil && got.Status == federation.StatusActive
		}); err != nil {
			return fmt.Errorf("%s never ACTIVE", n)
		}
		if _, err := c.Instances[n].App.Events.Subscribe(ctx, spokeWS, events.SubscribeInput{ConnectionID: id, EventType: "task.*"}); err != nil {
			return err
		}
		if err := waitUntil(ctx, time.Minute, func() bool {
			subs, err := hub.App.Store.Subscriptions.List(ctx, ws, id)
			return err == nil && len(subs) == 1
		}); err != nil {
			return fmt.Errorf("the hub never held %s's subscription", n)
		}
	}
	healthy := []string{conns["healthy1"], conns["healthy2"]}
	round := func() ([]time.Duration, error) {
		var ids []string
		for i := range 40 {
			p, err := hub.App.Events.Publish(ctx, ws, events.PublishInput{EventType: "task.created", Payload: json.RawMessage(fmt.Sprintf(`{"seq":%d}`, i))})
			if err != nil {
				return nil, err
			}
			ids = append(ids, p.EventID)
		}
		var lat []time.Duration
		err := waitUntil(ctx, 3*time.Minute, func() bool {
			lat = lat[:0]
			for _, ev := range ids {
				for _, conn := range healthy {
					m, err := hub.App.Store.Messages.Get(ctx, ws, events.DeliveryID(ev, conn))
					if err != nil || m.Status != federation.MsgDelivered || m.DeliveredAt == nil {
						return false
					}
					lat = append(lat, m.DeliveredAt.Sub(m.CreatedAt))
				}
			}
			return true
		})
		slices.Sort(lat)
		return lat, err
	}
	alone, err := round()
	if err != nil {
		return fmt.Errorf("round without a slow peer: %w", err)
	}
	c.Instances["slow"].Slow(8 * time.Second)
	withSlow, err := round()
	if err != nil {
		return fmt.Errorf("round with a slow peer: %w", err)
	}
	pct := func(l []time.Duration, p float64) time.Duration { return l[int(p*float64(len(l)-1))] }
	report("fairness: delivery latency to healthy peers, p50 with one slow peer / without", "≤ 1.5×", "%.2f× (%s / %s)",
		float64(pct(withSlow, .5))/float64(pct(alone, .5)), pct(withSlow, .5).Round(time.Millisecond), pct(alone, .5).Round(time.Millisecond))
	report("fairness: delivery latency to healthy peers, p95 with one slow peer / without", "≤ 1.5×", "%.2f× (%s / %s)",
		float64(pct(withSlow, .95))/float64(pct(alone, .95)), pct(withSlow, .95).Round(time.Millisecond), pct(alone, .95).Round(time.Millisecond))
	return nil
}

// waitUntil polls cond every 200 ms until it holds or within passes.
func waitUntil(ctx context.Context, within time.Duration, cond func() bool) error {
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s", within)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return nil
}
