package tests

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fedgate/fedgate/infra/local"
	"github.com/fedgate/fedgate/shared/config"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/ratelimit"
	"github.com/fedgate/fedgate/shared/routes"
)

// subscribedPeer is a test peer in hub's workspace ws, subscribed there to
// task.* by its own event.subscribe COMMAND; answer says how it answers
// the EVENTs (everything else gets 202).
func subscribedPeer(t *testing.T, hub *local.Instance, ws string, answer func(ev eventPosted) (int, []byte, http.Header)) (*hostilePeer, string) {
	t.Helper()
	p := newHostilePeer(t)
	conn := p.joinWithInvite(hub, ws)
	hubID := instanceID(t, hub)
	p.answerWith(func(path string, body []byte) (int, []byte, http.Header) {
		if path != "/incoming/event" {
			return http.StatusAccepted, []byte(`{}`), nil
		}
		ev := eventPosted{conn: conn, to: hubID}
		_ = json.Unmarshal(body, &ev)
		ev.ack = func() []byte {
			return p.sign(p.envelope("EVENT_ACK", conn, hubID, map[string]any{"correlationId": ev.MessageID, "received": true}), nil)
		}
		return answer(ev)
	})
	sub := p.envelope("COMMAND", conn, hubID, map[string]any{"commandType": "event.subscribe", "payload": map[string]any{"eventType": "task.*"}})
	if r := p.post(hub, "/command", p.sign(sub, nil)); r.Status != http.StatusAccepted {
		t.Fatalf("subscribe: %d %s", r.Status, r.Body)
	}
	tok := token(t, ws)
	eventually(t, 15*time.Second, "the hub holding the peer's subscription", func() bool {
		return len(activeSubs(t, hub, tok, conn, federation.Inbound)) == 1
	})
	return p, conn
}

// eventPosted is an EVENT as a test peer received it on conn from the
// instance to; ack signs its EVENT_ACK.
type eventPosted struct {
	MessageID string `json:"messageId"`
	conn, to  string
	ack       func() []byte
}

// One slow subscriber — answering each EVENT after 8 s, or never within the
// hub's 10 s timeout — delays no one: a subscriber that answers at once has
// all 40 events within 20 s of the last publish while the slow one is still
// receiving them, and no more than 20 deliveries are in flight to the slow
// one at any moment (PEER_IN_FLIGHT). Not parallel: it times deliveries,
// which the other tests' load on moto would slow (sequential tests run
// before the parallel ones, alone).
func TestSlowPeerDelaysNoOne(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer time.Duration
	}{
		{"answers after 8 s", 8 * time.Second},
		{"times out", 12 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := clusterWith(t, fastRetries, "hub", "spoke")
			hub, spoke := c.Instances["hub"], c.Instances["spoke"]
			hubTok, spokeTok := token(t, "ws-hub"), token(t, "default")
			subscribe(t, hub, spoke, hubTok, spokeTok, connect(t, hub, spoke, hubTok, spokeTok), "task.*")
			var inFlight, most atomic.Int32
			var mu sync.Mutex
			answered := map[string]bool{}
			slow, _ := subscribedPeer(t, hub, "ws-hub", func(ev eventPosted) (int, []byte, http.Header) {
				n := inFlight.Add(1)
				defer inFlight.Add(-1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				time.Sleep(tc.answer)
				mu.Lock()
				answered[ev.MessageID] = true
				mu.Unlock()
				return http.StatusOK, ev.ack(), nil
			})
			for seq := range 40 {
				if _, n := publish(t, hub, hubTok, "task.created", map[string]int{"seq": seq}); n != 2 {
					t.Fatalf("%d deliveries of event %d, want 2", n, seq)
				}
			}
			eventuallyEvery(t, 20*time.Second, time.Second, "all 40 events at the fast subscriber", func() bool {
				return len(inboundSeqs(t, spoke, spokeTok)) == 40
			})
			mu.Lock()
			slowHad := len(answered)
			mu.Unlock()
			if slowHad == 40 {
				t.Fatal("the slow subscriber had everything as early as the fast one: the test proves nothing")
			}
			if tc.answer < 10*time.Second {
				eventuallyEvery(t, 90*time.Second, time.Second, "all 40 events answered by the slow subscriber", func() bool {
					mu.Lock()
					defer mu.Unlock()
					return len(answered) == 40
				})
			} else {
				eventually(t, 20*time.Second, "timed-out deliveries to come back", func() bool { return len(slow.got("/incoming/event")) > 20 })
			}
			// (A peer that never answers still holds requests the hub gave
			// up on after 10 s, so only an answering peer's count is the hub's.)
			if m := most.Load(); m > 20 && tc.answer < 10*time.Second {
				t.Fatalf("%d deliveries in flight to one peer at once, more than 20", m)
			}
		})
	}
}

// A peer that answers 429 with Retry-After: 5 gets nothing from the hub for
// 5 s — neither that event nor another published meanwhile — and is not
// counted as failing: its circuit stays closed, with no failure recorded.
func TestPeerRetryAfterPacesTheHub(t *testing.T) {
	t.Parallel()
	c := clusterWith(t, fastRetries, "hub")
	hub := c.Instances["hub"]
	hubTok := token(t, "ws-hub")
	var mu sync.Mutex
	var arrivals []time.Time
	var first429 time.Time
	peer, conn := subscribedPeer(t, hub, "ws-hub", func(ev eventPosted) (int, []byte, http.Header) {
		mu.Lock()
		defer mu.Unlock()
		arrivals = append(arrivals, time.Now())
		if first429.IsZero() {
			first429 = time.Now()
			return http.StatusTooManyRequests, []byte(`{"error":{"code":"rate_limited","message":"slow down","requestId":"r"}}`), http.Header{"Retry-After": {"5"}}
		}
		return http.StatusOK, ev.ack(), nil
	})
	publish(t, hub, hubTok, "task.created", map[string]int{"seq": 1})
	eventually(t, 15*time.Second, "the first EVENT answered 429", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return !first429.IsZero()
	})
	time.Sleep(time.Second)
	publish(t, hub, hubTok, "task.created", map[string]int{"seq": 2})
	eventually(t, 30*time.Second, "both events delivered", func() bool {
		st := deliveryStatus(t, hub, hubTok)
		return st[conn].Status == federation.MsgDelivered && len(eventMessages(t, hub, hubTok, "direction=OUTBOUND&status=DELIVERED")) == 2
	})
	mu.Lock()
	for _, at := range arrivals[1:] {
		if at.Sub(first429) < 5*time.Second {
			t.Errorf("an EVENT reached the peer %s after its 429 asked for 5 s", at.Sub(first429))
		}
	}
	mu.Unlock()
	got := connection(t, hub, hubTok, conn)
	if got.Status != federation.StatusActive || got.Health.Circuit != federation.CircuitClosed || got.Health.ConsecutiveFailures != 0 || got.Health.LastFailureAt != nil {
		t.Fatalf("a peer that asked to slow down counts as failing: %s %+v", got.Status, got.Health)
	}
	if len(peer.got("/incoming/event")) != 3 {
		t.Fatalf("%d EVENTs posted, want 3 (one 429, two delivered)", len(peer.got("/incoming/event")))
	}
}

// A peer flooding the hub with 400 QUERYs from 24 threads meets 429
// rate_limited with Retry-After; its connection stays ACTIVE with a closed
// circuit, and another peer's queries meanwhile are all answered. (The limit
// is 10/s with a burst of 20 here, so a slow machine floods it too; the
// defaults, 50/s and 100, are the configuration's.)
func TestIncomingFloodIsRateLimited(t *testing.T) {
	t.Parallel()
	c := clusterWith(t, func(name string, cfg *config.Config) {
		fastRetries(name, cfg)
		cfg.PeerRate = ratelimit.Rule{Rate: 10, Burst: 20}
	}, "hub")
	hub := c.Instances["hub"]
	hubID := instanceID(t, hub)
	flood, quiet := newHostilePeer(t), newHostilePeer(t)
	floodConn, quietConn := flood.joinWithInvite(hub, "ws-f"), quiet.joinWithInvite(hub, "ws-q")
	query := func(p *hostilePeer, conn string) []byte {
		return p.sign(p.envelope("QUERY", conn, hubID, map[string]any{"query": "federation.instance"}), nil)
	}
	type result struct {
		status     int
		code       string
		retryAfter string
	}
	results := make(chan result, 400)
	bodies := make(chan []byte, 400)
	for range 400 {
		bodies <- query(flood, floodConn)
	}
	close(bodies)
	post := func(body []byte) result {
		resp, err := http.Post(hub.URL+routes.BasePath+"/incoming/query", "application/json", bytes.NewReader(body))
		if err != nil {
			return result{status: -1, code: err.Error()}
		}
		defer resp.Body.Close()
		var e struct{ Error struct{ Code string } }
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return result{resp.StatusCode, e.Error.Code, resp.Header.Get("Retry-After")}
	}
	var wg sync.WaitGroup
	for range 24 {
		wg.Go(func() {
			for b := range bodies {
				results <- post(b)
			}
		})
	}
	quietStatuses := map[int]int{}
	for range 10 {
		quietStatuses[post(query(quiet, quietConn)).status]++
	}
	wg.Wait()
	close(results)
	counts := map[int]int{}
	for r := range results {
		counts[r.status]++
		if r.status == http.StatusTooManyRequests {
			if r.code != "rate_limited" {
				t.Fatalf("429 with code %q", r.code)
			}
			if s, err := strconv.Atoi(r.retryAfter); err != nil || s < 1 {
				t.Fatalf("429 with Retry-After %q", r.retryAfter)
			}
		}
	}
	if counts[http.StatusTooManyRequests] == 0 || counts[http.StatusOK] < 20 || counts[http.StatusOK]+counts[http.StatusTooManyRequests] != 400 {
		t.Fatalf("flood answered %v: want 200s up to the limit and 429 rate_limited beyond it", counts)
	}
	if quietStatuses[http.StatusOK] != 10 {
		t.Fatalf("the other peer's queries were answered %v during the flood", quietStatuses)
	}
	got := connection(t, hub, token(t, "ws-f"), floodConn)
	if got.Status != federation.StatusActive || got.Health.Circuit != federation.CircuitClosed {
		t.Fatalf("the flooding peer's connection: %s %+v", got.Status, got.Health)
	}
}

// A workspace's users beyond their limit meet 429 rate_limited with
// Retry-After before anything runs; another workspace is unaffected. Not
// parallel: its 25 calls must fit in one 5 s window.
func TestWorkspaceCallsAreRateLimited(t *testing.T) {
	rule := ratelimit.Rule{Rate: 2, Burst: 10}
	c := clusterWith(t, func(name string, cfg *config.Config) {
		fastRetries(name, cfg)
		cfg.WorkspaceRate = rule
	}, "hub")
	hub := c.Instances["hub"]
	busy, other := token(t, "ws-busy"), token(t, "ws-other")
	statuses := map[int]int{}
	var limited response
	// The limit counts in windows of burst/rate (5 s) aligned to the clock:
	// calls that straddle two windows may pass twice the burst. Start at the
	// beginning of a window so all 25 fall in one.
	window := rule.Window()
	time.Sleep(window - time.Duration(time.Now().UnixMilli()%window.Milliseconds())*time.Millisecond + 20*time.Millisecond)
	start := time.Now()
	defer func() {
		if took := time.Since(start); took > window-100*time.Millisecond && t.Failed() {
			t.Logf("the calls took %s, longer than one window (%s): the counts cover two", took, window)
		}
	}()
	for range 25 {
		r := call(t, hub, "GET", "/connections", busy, nil)
		statuses[r.Status]++
		if r.Status == http.StatusTooManyRequests {
			limited = r
		}
	}
	if statuses[http.StatusOK] < 10 || statuses[http.StatusOK] > 12 || statuses[http.StatusTooManyRequests] == 0 {
		t.Fatalf("25 calls in a burst of 10 answered %v", statuses)
	}
	if limited.errorCode(t) != "rate_limited" || limited.Header.Get("Retry-After") == "" {
		t.Fatalf("the refusal: %s %v", limited.Body, limited.Header)
	}
	if r := call(t, hub, "GET", "/connections", other, nil); r.Status != http.StatusOK {
		t.Fatalf("another workspace: %d", r.Status)
	}
}
