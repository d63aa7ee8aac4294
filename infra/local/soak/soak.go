// Package soak is the fault-injection run of `make soak` (and, shorter, of
// `make test`): a hub publishes events to subscribers on three spokes while
// one spoke is down for a while, one is suspended and resumed, the hub and a
// spoke rotate their keys, invocations crash at named points, and fan-out and
// delivery jobs arrive twice. At the end every receiver must hold every event
// exactly once, nothing may be left pending, and both sides of every
// connection must agree on the subscriptions.
package soak

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/fedgate/fedgate/infra/local"
	"github.com/fedgate/fedgate/infra/local/devjwt"
	"github.com/fedgate/fedgate/shared/config"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/queue"
	"github.com/fedgate/fedgate/shared/routes"
)

// Options configure a run.
type Options struct {
	Endpoint string // moto_server
	Events   int
	Auth     *devjwt.Authority
	Log      *slog.Logger
	// CrashPoints are the chances of the crash points (shared/faults).
	CrashPoints string
	// Timeout bounds the wait for everything to arrive.
	Timeout time.Duration
	// Progress, when set, hears what the run is doing.
	Progress io.Writer
}

// DefaultCrashPoints make a few percent of invocations die.
const DefaultCrashPoints = "deliver.after-post=0.01,fanout.after-write=0.05,batch.middle=0.005"

// Result is what a run found.
type Result struct {
	Events, Receivers, Expected   int
	ExactlyOnce, Lost, Duplicated int
	Pending                       int
	Missing                       []string // receiver#seq of the first lost events
	Crashes                       int64
	SubscriptionsDiffer           []string
	Elapsed                       time.Duration
}

// OK reports whether nothing was lost, duplicated or left pending, and the
// subscriptions agree.
func (r Result) OK() bool {
	return r.Lost == 0 && r.Duplicated == 0 && r.Pending == 0 && r.ExactlyOnce == r.Expected && len(r.SubscriptionsDiffer) == 0
}

// Line is the one-line report.
func (r Result) Line() string {
	line := fmt.Sprintf("soak: events %d, receivers %d, expected %d, delivered exactly once %d, lost %d, duplicated %d, left pending %d, crashes %d, elapsed %.0f s",
		r.Events, r.Receivers, r.Expected, r.ExactlyOnce, r.Lost, r.Duplicated, r.Pending, r.Crashes, r.Elapsed.Seconds())
	if len(r.Missing) > 0 {
		line += ", missing " + strings.Join(r.Missing, " ")
	}
	if len(r.SubscriptionsDiffer) > 0 {
		line += ", subscriptions differ on " + strings.Join(r.SubscriptionsDiffer, ", ")
	}
	return line
}

const (
	hubWS      = "ws-hub"
	spokeWS    = "default" // the spokes accept inbound connections there
	eventType  = "soak.event"
	subPattern = "soak.*"
)

type run struct {
	opts    Options
	cluster *local.Cluster
	hub     *local.Instance
	spokes  []*local.Instance
	conns   []string // hub ↔ spokes[i]
	hubTok  string
	spokeTk string
}

// Run starts a hub and three spokes on loopback, runs the soak and stops
// everything it started.
func Run(ctx context.Context, opts Options) (Result, error) {
	if opts.Timeout == 0 {
		opts.Timeout = 30 * time.Minute
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	start := time.Now()
	names := []string{"hub", "spoke1", "spoke2", "spoke3"}
	var specs []local.InstanceSpec
	prefix := fmt.Sprintf("soak%d-", start.UnixNano()%1_000_000)
	for _, n := range names {
		specs = append(specs, local.InstanceSpec{Name: n, Prefix: prefix + n + "-"})
	}
	c, err := local.Start(ctx, local.Options{
		Endpoint: opts.Endpoint, Instances: specs, Auth: opts.Auth, Logger: opts.Log,
		// A crashed batch comes back after the visibility timeout, as in AWS (there 6× the function timeout).
		// The schedules run every 5 s: each of their index queries is a scan of
		// the whole table in moto, and the hub's grows by thousands of items.
		Visibility: 3 * time.Second, ScheduleEvery: 5 * time.Second,
		Configure: func(_ string, cfg *config.Config) {
			// A compressed clock: the same retry rules with short waits.
			cfg.Retry = federation.RetryPolicy{BaseDelay: 200 * time.Millisecond, MaxDelay: 2 * time.Second, MaxAttempts: 500, MaxAge: 2 * time.Hour}
			// The open circuit compresses least (60 s instead of 1 h): every
			// delivery held behind it looks again when it half-opens, and
			// with hundreds held, shorter waits keep moto busy with nothing
			// but those looks.
			cfg.Circuit = federation.Circuit{Threshold: 10, MinOpen: 2 * time.Second, MaxOpen: time.Minute, SuspendAfter: 5 * 24 * time.Hour}
			cfg.OutboxGrace, cfg.KeyRefetchEvery, cfg.AckDeadline = 2*time.Second, 200*time.Millisecond, 30*time.Second
			cfg.CrashPoints = opts.CrashPoints
		},
	})
	if err != nil {
		return Result{}, err
	}
	defer c.Stop(context.WithoutCancel(ctx))
	r := &run{opts: opts, cluster: c, hub: c.Instances["hub"]}
	for _, n := range names[1:] {
		r.spokes = append(r.spokes, c.Instances[n])
	}
	if r.hubTok, err = opts.Auth.Mint(devjwt.Token{Subject: "soak", Workspace: hubWS, Scopes: []string{routes.ScopeAdmin, routes.ScopeInstance}}); err != nil {
		return Result{}, err
	}
	if r.spokeTk, err = opts.Auth.Mint(devjwt.Token{Subject: "soak", Workspace: spokeWS, Scopes: []string{routes.ScopeAdmin, routes.ScopeInstance}}); err != nil {
		return Result{}, err
	}
	if err := r.setUp(ctx); err != nil {
		return Result{}, err
	}
	if err := r.publish(ctx); err != nil {
		return Result{}, err
	}
	res := r.settle(ctx, start)
	return res, nil
}

func (r *run) say(format string, args ...any) {
	if r.opts.Progress != nil {
		fmt.Fprintf(r.opts.Progress, "soak: "+format+"\n", args...)
	}
}

// call is one API call; want is the status expected (0: any 2xx).
func (r *run) call(inst *local.Instance, method, path, tok string, body any, want int, out any) error {
	var rd io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, inst.URL+routes.BasePath+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if (want != 0 && resp.StatusCode != want) || (want == 0 && resp.StatusCode/100 != 2) {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, data)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// waitFor polls cond until it holds or the run's timeout passes.
func (r *run) waitFor(ctx context.Context, what string, within time.Duration, every time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(within)
	for {
		ok, err := cond()
		if err == nil && ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out waiting for %s (last error: %v)", what, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(every):
		}
	}
}

// setUp connects the hub to every spoke and subscribes every spoke to the
// hub's soak events.
func (r *run) setUp(ctx context.Context) error {
	for _, spoke := range r.spokes {
		var conn federation.Connection
		if err := r.call(r.hub, "POST", "/connections/initiate", r.hubTok, map[string]string{"remoteUrl": spoke.URL}, http.StatusCreated, &conn); err != nil {
			return err
		}
		if err := r.call(spoke, "POST", "/connections/"+conn.ID+"/accept", r.spokeTk, nil, http.StatusOK, nil); err != nil {
			return err
		}
		r.conns = append(r.conns, conn.ID)
	}
	for i, spoke := range r.spokes {
		id := r.conns[i]
		if err := r.waitFor(ctx, "connection ACTIVE", time.Minute, 200*time.Millisecond, func() (bool, error) {
			var c federation.Connection
			err := r.call(r.hub, "GET", "/connections/"+id, r.hubTok, nil, http.StatusOK, &c)
			return c.Status == federation.StatusActive, err
		}); err != nil {
			return err
		}
		if err := r.call(spoke, "POST", "/events/subscribe", r.spokeTk, map[string]string{"connectionId": id, "eventType": subPattern}, http.StatusCreated, nil); err != nil {
			return err
		}
	}
	for i := range r.spokes {
		id := r.conns[i]
		if err := r.waitFor(ctx, "the hub holding the subscription", time.Minute, 300*time.Millisecond, func() (bool, error) {
			set, err := r.subscriptions(r.hub, r.hubTok, id, federation.Inbound)
			return slices.Equal(set, []string{subPattern}), err
		}); err != nil {
			return err
		}
	}
	r.say("hub connected to %d spokes, subscriptions in place", len(r.spokes))
	return nil
}

// publish publishes the events while the faults happen.
func (r *run) publish(ctx context.Context) error {
	n := r.opts.Events
	at := func(fraction float64) int { return int(fraction * float64(n)) }
	faults := map[int][]func() error{
		at(0.10): {func() error { r.say("spoke1 down"); r.spokes[0].Down(); return nil }},
		at(0.20): {func() error { r.say("hub suspends spoke2"); return r.connChange(1, "suspend") }},
		at(0.30): {func() error { r.say("hub rotates its key"); return r.rotate(r.hub, r.hubTok) }},
		at(0.35): {func() error { r.say("spoke3 rotates its key"); return r.rotate(r.spokes[2], r.spokeTk) }},
		at(0.45): {func() error { r.say("spoke1 up"); return r.spokes[0].Up() }},
		at(0.55): {func() error { r.say("hub resumes spoke2"); return r.connChange(1, "resume") }},
	}
	started := time.Now()
	for i := range n {
		for _, f := range faults[i] {
			if err := f(); err != nil {
				return err
			}
		}
		var published struct{ EventID string }
		body := map[string]any{"eventType": eventType, "payload": map[string]int{"seq": i}}
		if err := r.call(r.hub, "POST", "/events/publish", r.hubTok, body, http.StatusAccepted, &published); err != nil {
			return err
		}
		// Every fan-out job arrives twice.
		if err := r.hub.App.Jobs.Send(ctx, queue.Fanout, queue.Job{WorkspaceID: hubWS, MessageID: published.EventID}, 0); err != nil {
			return err
		}
		if i%10 == 9 {
			if err := r.duplicateDeliveryJobs(ctx); err != nil {
				return err
			}
		}
		if i%100 == 99 {
			r.say("%d events published (%.0f s)", i+1, time.Since(started).Seconds())
		}
	}
	r.say("all %d events published; waiting until every spoke holds them and nothing is pending", n)
	return nil
}

func (r *run) connChange(i int, action string) error {
	return r.call(r.hub, "POST", "/connections/"+r.conns[i]+"/"+action, r.hubTok, nil, http.StatusOK, nil)
}

func (r *run) rotate(inst *local.Instance, tok string) error {
	return r.call(inst, "POST", "/instance/keys/rotate", tok, nil, http.StatusOK, nil)
}

// duplicateDeliveryJobs sends the jobs of the newest outgoing deliveries a
// second time.
func (r *run) duplicateDeliveryJobs(ctx context.Context) error {
	var page struct{ Items []federation.Message }
	if err := r.call(r.hub, "GET", "/events/messages?direction=OUTBOUND&limit=5", r.hubTok, nil, http.StatusOK, &page); err != nil {
		return err
	}
	for _, m := range page.Items {
		if err := r.hub.App.Jobs.Send(ctx, queue.Delivery, queue.Job{WorkspaceID: hubWS, MessageID: m.ID}, 0); err != nil {
			return err
		}
	}
	return nil
}

// settle waits until every spoke holds every event and nothing is pending
// (or the timeout passes, or nothing has been pending for a while with
// events still missing: they are lost), then counts.
func (r *run) settle(ctx context.Context, start time.Time) Result {
	res := Result{Events: r.opts.Events, Receivers: len(r.spokes), Expected: r.opts.Events * len(r.spokes)}
	var counts []map[int]int
	var idleSince time.Time
	err := r.waitFor(ctx, "every event at every spoke", r.opts.Timeout, 3*time.Second, func() (bool, error) {
		counts = nil
		complete := true
		for _, spoke := range r.spokes {
			c, err := r.received(spoke)
			if err != nil {
				return false, err
			}
			counts = append(counts, c)
			complete = complete && len(c) == r.opts.Events
		}
		pending, err := r.pending()
		if err != nil || complete {
			return complete && pending == 0, err
		}
		// Catch-up and replay jobs may still be on their way with nothing
		// pending yet: give them a while before calling the rest lost.
		switch {
		case pending > 0:
			idleSince = time.Time{}
		case idleSince.IsZero():
			idleSince = time.Now()
		case time.Since(idleSince) > lostAfter:
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		r.say("%v", err)
	}
	for i, c := range counts {
		for seq := range r.opts.Events {
			switch n := c[seq]; {
			case n == 0:
				res.Lost++
				if len(res.Missing) < 10 {
					res.Missing = append(res.Missing, fmt.Sprintf("%s#%d", r.spokes[i].Spec.Name, seq))
				}
			case n == 1:
				res.ExactlyOnce++
			default:
				res.ExactlyOnce++
				res.Duplicated += n - 1
			}
		}
	}
	res.Pending, _ = r.pending()
	for i, spoke := range r.spokes {
		want, err1 := r.subscriptions(spoke, r.spokeTk, r.conns[i], federation.Outbound)
		got, err2 := r.subscriptions(r.hub, r.hubTok, r.conns[i], federation.Inbound)
		if err1 != nil || err2 != nil || !slices.Equal(want, got) {
			res.SubscriptionsDiffer = append(res.SubscriptionsDiffer, fmt.Sprintf("%s (spoke %v, hub %v)", spoke.Spec.Name, want, got))
		}
	}
	for _, inst := range r.cluster.Instances {
		res.Crashes += inst.App.Faults.Crashes()
	}
	res.Elapsed = time.Since(start)
	return res
}

// lostAfter is how long events may be missing with nothing pending before
// the run calls them lost.
const lostAfter = 30 * time.Second

// received counts the soak events a spoke holds, by sequence number.
func (r *run) received(spoke *local.Instance) (map[int]int, error) {
	counts := map[int]int{}
	cursor := ""
	for {
		var page struct {
			Items      []federation.Message
			NextCursor string
		}
		path := "/events/messages?direction=INBOUND&limit=100"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		if err := r.call(spoke, "GET", path, r.spokeTk, nil, http.StatusOK, &page); err != nil {
			return nil, err
		}
		for _, m := range page.Items {
			var p struct{ Seq int }
			if m.EventType == eventType && json.Unmarshal(m.Payload, &p) == nil {
				counts[p.Seq]++
			}
		}
		if cursor = page.NextCursor; cursor == "" {
			return counts, nil
		}
	}
}

// pending counts the hub's deliveries still waiting (PENDING or RETRYING).
func (r *run) pending() (int, error) {
	n := 0
	for _, status := range []federation.MsgStatus{federation.MsgPending, federation.MsgRetrying} {
		cursor := ""
		for {
			var page struct {
				Items      []federation.Message
				NextCursor string
			}
			path := "/events/messages?direction=OUTBOUND&limit=100&status=" + string(status)
			if cursor != "" {
				path += "&cursor=" + cursor
			}
			if err := r.call(r.hub, "GET", path, r.hubTok, nil, http.StatusOK, &page); err != nil {
				return 0, err
			}
			n += len(page.Items)
			if cursor = page.NextCursor; cursor == "" {
				break
			}
		}
	}
	return n, nil
}

// subscriptions is a side's active subscriptions on a connection, sorted.
func (r *run) subscriptions(inst *local.Instance, tok, conn, direction string) ([]string, error) {
	var page struct{ Items []federation.Subscription }
	if err := r.call(inst, "GET", "/events/subscriptions?limit=100&connectionId="+conn, tok, nil, http.StatusOK, &page); err != nil {
		return nil, err
	}
	var out []string
	for _, s := range page.Items {
		if s.Direction == direction && s.IsActive {
			out = append(out, s.EventType)
		}
	}
	slices.Sort(out)
	return out, nil
}
