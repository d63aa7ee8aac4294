package tests

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fedgate/fedgate/infra/cli"
	"github.com/fedgate/fedgate/infra/local"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/routes"
	"github.com/fedgate/fedgate/shared/store"
)

// publishTraced publishes with a traceparent header and returns the event id
// and the trace id the hub answered with.
func publishTraced(t *testing.T, hub *local.Instance, tok, traceparent string, payload any) (string, string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"eventType": "task.created", "payload": payload})
	req, _ := http.NewRequest("POST", hub.URL+routes.BasePath+"/events/publish", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Traceparent", traceparent)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("publish: %d %s", resp.StatusCode, data)
	}
	var out struct{ EventID string }
	_ = json.Unmarshal(data, &out)
	return out.EventID, resp.Header.Get("X-Trace-Id")
}

// A publish with a traceparent header reaches the peer with the same trace
// id inside the signed envelope; the receiving instance keeps a trace of its
// own and records the sender's as remoteTraceId (PROTOCOL.md §9: adopted
// only after the envelope verified, so a peer cannot write into our traces):
// one event is followed from publish to the other's store.
func TestTraceAcrossInstances(t *testing.T) {
	t.Parallel()
	c := clusterWith(t, fastRetries, "hub", "spoke")
	hub, spoke := c.Instances["hub"], c.Instances["spoke"]
	hubTok, spokeTok := token(t, "ws-hub"), token(t, "default")
	conn := connect(t, hub, spoke, hubTok, spokeTok)
	subscribe(t, hub, spoke, hubTok, spokeTok, conn, "task.*")
	watcher, _ := subscribedPeer(t, hub, "ws-hub", func(ev eventPosted) (int, []byte, http.Header) {
		return http.StatusOK, ev.ack(), nil
	})
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	id, answered := publishTraced(t, hub, hubTok, "00-"+traceID+"-00f067aa0ba902b7-01", map[string]int{"seq": 1})
	if answered != traceID {
		t.Fatalf("the hub answered trace %q, want the caller's %s", answered, traceID)
	}
	eventually(t, 20*time.Second, "the EVENT at the watching peer", func() bool { return len(watcher.got("/incoming/event")) > 0 })
	raw := watcher.got("/incoming/event")[0]
	var env struct{ Traceparent string }
	_ = json.Unmarshal(raw, &env)
	if !strings.HasPrefix(env.Traceparent, "00-"+traceID+"-") || strings.HasSuffix(env.Traceparent, "-00f067aa0ba902b7-01") {
		t.Fatalf("the envelope's traceparent %q: want the trace %s with a span of the hub's", env.Traceparent, traceID)
	}
	if !watcher.verifiedFrom(hub, raw) {
		t.Fatal("the traced envelope does not verify: traceparent must be inside the signature")
	}
	eventually(t, 20*time.Second, "the event in the spoke's store", func() bool {
		for _, m := range eventMessages(t, spoke, spokeTok, "direction=INBOUND") {
			if m.RemoteTraceID == traceID {
				if m.TraceID == traceID || m.TraceID == "" {
					t.Fatalf("the spoke adopted the peer's trace as its own: %+v", m)
				}
				return true
			}
		}
		return false
	})
	for _, m := range eventMessages(t, hub, hubTok, "direction=OUTBOUND") {
		if m.TraceID != traceID {
			t.Fatalf("the hub's delivery %s carries trace %q", m.ID, m.TraceID)
		}
	}
	_ = id
}

// attempts lists a message's attempts (all pages).
func attempts(t *testing.T, inst *local.Instance, tok, path string) []federation.Attempt {
	t.Helper()
	var all []federation.Attempt
	cursor := ""
	for {
		var page store.Page[federation.Attempt]
		r := call(t, inst, "GET", path+"?limit=2&cursor="+cursor, tok, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, r.Status, r.Body)
		}
		r.decode(t, &page)
		all = append(all, page.Items...)
		if cursor = page.NextCursor; cursor == "" {
			return all
		}
	}
}

// Every attempt of a delivery is recorded: a delivered one once, with its
// duration; to a peer answering 500, failed attempts with the status, class
// http and the start of the answer; to a port nobody listens on, class
// connect; to a peer whose EVENT_ACK does not verify, class signature.
func TestAttemptRecords(t *testing.T) {
	t.Parallel()
	c := clusterWith(t, fastRetries, "hub")
	hub := c.Instances["hub"]
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	type peerCase struct {
		ws     string
		answer func(p *hostilePeer, ev eventPosted) (int, []byte, http.Header)
		closed bool
		check  func(t *testing.T, got []federation.Attempt) bool
		inCLI  bool // the CLI's attempts table shows the peer's text escaped
	}
	failedWith := func(status int, class, excerpt string) func(t *testing.T, got []federation.Attempt) bool {
		return func(t *testing.T, got []federation.Attempt) bool {
			if len(got) < 2 {
				return false
			}
			for i, a := range got {
				if a.Attempt != i+1 || a.Outcome != federation.AttemptFailed || a.Status != status || a.ErrorClass != class ||
					!strings.Contains(a.ResponseExcerpt, excerpt) || a.Error == "" || a.At.IsZero() {
					t.Fatalf("attempt %d: %+v, want failed, status %d, class %s, excerpt with %q", i+1, a, status, class, excerpt)
				}
			}
			return true
		}
	}
	cases := map[string]peerCase{
		"delivered": {ws: "ws-ok", answer: func(_ *hostilePeer, ev eventPosted) (int, []byte, http.Header) {
			time.Sleep(50 * time.Millisecond)
			return http.StatusOK, ev.ack(), nil
		}, check: func(t *testing.T, got []federation.Attempt) bool {
			if len(got) == 0 {
				return false
			}
			if len(got) != 1 || got[0].Attempt != 1 || got[0].Outcome != federation.AttemptDelivered || got[0].Status != 200 ||
				got[0].DurationMs < 50 || got[0].ErrorClass != "" {
				t.Fatalf("attempts %+v, want one delivered taking at least 50 ms", got)
			}
			return true
		}},
		"500": {ws: "ws-500", answer: func(_ *hostilePeer, _ eventPosted) (int, []byte, http.Header) {
			return http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"the database is on fire","requestId":"r"}}`), nil
		}, check: failedWith(500, federation.ClassHTTP, "the database is on fire")},
		// A hostile peer's text reaches the operator's terminal through
		// `fedgate messages attempts`: it must arrive there inert.
		"500 with terminal escapes": {ws: "ws-esc", answer: func(_ *hostilePeer, _ eventPosted) (int, []byte, http.Header) {
			return http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"fire\u001b[2J\u001b]0;pwned\u0007\u202e","requestId":"r"}}`), nil
		}, check: failedWith(500, federation.ClassHTTP, "fire"), inCLI: true},
		"closed port": {ws: "ws-gone", closed: true, check: failedWith(0, federation.ClassConnect, "")},
		"bad ACK": {ws: "ws-forged", answer: func(p *hostilePeer, ev eventPosted) (int, []byte, http.Header) {
			forged := &peerKey{id: p.keys[0].id, priv: otherKey} // the right key id, another key
			ack := p.envelope("EVENT_ACK", ev.conn, ev.to, map[string]any{"correlationId": ev.MessageID, "received": true})
			return http.StatusOK, p.sign(ack, forged), nil
		}, check: failedWith(200, federation.ClassSignature, "EVENT_ACK")},
	}
	for name, pc := range cases {
		t.Run(name, func(t *testing.T) {
			var p *hostilePeer
			p, _ = subscribedPeer(t, hub, pc.ws, func(ev eventPosted) (int, []byte, http.Header) {
				if pc.answer == nil {
					return http.StatusOK, ev.ack(), nil
				}
				return pc.answer(p, ev)
			})
			if pc.closed {
				p.srv.Close()
			}
			tok := token(t, pc.ws)
			publish(t, hub, tok, "task.created", map[string]string{"case": name})
			var delivery string
			eventually(t, 10*time.Second, "the delivery", func() bool {
				out := eventMessages(t, hub, tok, "direction=OUTBOUND")
				if len(out) == 1 {
					delivery = out[0].ID
				}
				return delivery != ""
			})
			eventually(t, 30*time.Second, "the attempts recorded", func() bool {
				return pc.check(t, attempts(t, hub, tok, "/events/messages/"+delivery+"/attempts"))
			})
			if r := call(t, hub, "GET", "/events/messages/"+delivery+"/attempts", token(t, "ws-other"), nil); r.Status != http.StatusNotFound {
				t.Fatalf("another workspace read the attempts: %d", r.Status)
			}
			if pc.inCLI {
				r := fedgateCLI(t, context.Background(), hub, tok, "messages", "attempts", delivery)
				wantCode(t, r, cli.ExitOK, "messages attempts")
				if strings.ContainsAny(r.out, "\x1b\x07\u202e") || !strings.Contains(r.out, `fire\x1b[2J\x1b]0;pwned\x07\u202e`) {
					t.Fatalf("the attempts table passed the peer's control characters on:\n%q", r.out)
				}
				// --json: the same text, escaped inside JSON strings.
				r = fedgateCLI(t, context.Background(), hub, tok, "messages", "attempts", delivery, "--json")
				wantCode(t, r, cli.ExitOK, "messages attempts --json")
				if strings.ContainsAny(r.out, "\x1b\x07\u202e") || !strings.Contains(r.out, `\u202e`) || !json.Valid([]byte(r.out)) {
					t.Fatalf("the attempts JSON passed the peer's control characters on:\n%q", r.out)
				}
			}
		})
	}
}

// Operator events are listed by GET /events/operations: a workspace admin
// sees the workspace's (a connection suspended and resumed), an instance admin the
// instance's too (a key rotation); nobody else sees either.
func TestOperatorEventsEndpoint(t *testing.T) {
	t.Parallel()
	c := clusterWith(t, fastRetries, "hub", "spoke")
	hub, spoke := c.Instances["hub"], c.Instances["spoke"]
	hubTok, spokeTok := token(t, "ws-hub"), token(t, "default")
	conn := connect(t, hub, spoke, hubTok, spokeTok)
	for _, action := range []string{"suspend", "resume"} {
		if r := call(t, hub, "POST", "/connections/"+conn+"/"+action, hubTok, nil); r.Status != http.StatusOK {
			t.Fatalf("%s: %d %s", action, r.Status, r.Body)
		}
	}
	if r := call(t, hub, "POST", "/instance/keys/rotate", token(t, "ws-hub", routes.ScopeInstance), nil); r.Status != http.StatusOK {
		t.Fatalf("rotate: %d %s", r.Status, r.Body)
	}
	types := func(tok, query string) []string {
		t.Helper()
		var page store.Page[federation.Operation]
		r := call(t, hub, "GET", "/events/operations"+query, tok, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("GET /events/operations%s: %d %s", query, r.Status, r.Body)
		}
		r.decode(t, &page)
		var out []string
		for _, op := range page.Items {
			out = append(out, op.Type)
		}
		return out
	}
	admin, instance := token(t, "ws-hub", routes.ScopeAdmin), token(t, "ws-hub", routes.ScopeInstance)
	if got := types(admin, ""); len(got) != 2 || got[0] != federation.OpConnectionResumed || got[1] != federation.OpConnectionSuspended {
		t.Fatalf("the workspace's operator events %v, want the resumption, then the suspension (newest first)", got)
	}
	if got := types(instance, "?scope=instance"); len(got) != 3 || got[0] != federation.OpKeyRotated || got[1] != federation.OpConnectionResumed {
		t.Fatalf("the instance's operator events %v, want the rotation, the resumption and the suspension", got)
	}
	for _, tc := range []struct {
		tok, query string
		status     int
	}{
		{memberToken(t, "ws-hub"), "", http.StatusForbidden},
		{admin, "?scope=instance", http.StatusForbidden},
		{token(t, "ws-other", routes.ScopeAdmin), "", http.StatusOK},
	} {
		r := call(t, hub, "GET", "/events/operations"+tc.query, tc.tok, nil)
		if r.Status != tc.status {
			t.Fatalf("GET /events/operations%s: %d, want %d", tc.query, r.Status, tc.status)
		}
		if r.Status == http.StatusOK && strings.Contains(string(r.Body), conn) {
			t.Fatal("another workspace's admin sees this workspace's operator events")
		}
	}
}
