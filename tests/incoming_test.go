package tests

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/ids"
	"github.com/fedgate/fedgate/shared/store"
)

// Every /incoming/* route refuses bad envelopes with the PROTOCOL code and
// stores nothing: no message, no de-duplication record, no state change.
func TestIncomingRejectsBadEnvelopes(t *testing.T) {
	t.Parallel()
	c := clusterWith(t, fastRetries, "hub", "spoke", "other")
	hub, spoke, other := c.Instances["hub"], c.Instances["spoke"], c.Instances["other"]
	hubTok, spokeTok := token(t, "ws-hub"), token(t, "default")
	conn := connect(t, hub, spoke, hubTok, spokeTok)
	// A second, suspended connection from "other" to the spoke.
	suspended := connect(t, other, spoke, token(t, "ws-o"), spokeTok)
	if r := call(t, spoke, "POST", "/connections/"+suspended+"/suspend", spokeTok, nil); r.Status != 200 {
		t.Fatalf("suspend: %d", r.Status)
	}

	now := time.Now()
	bodies := map[string]any{
		federation.EnvQuery:           federation.QueryBody{Query: "federation.instance"},
		federation.EnvCommand:         federation.CommandBody{CommandType: "agent.status", Payload: []byte(`{"agentId":"a1"}`)},
		federation.EnvCommandResponse: federation.ResponseBody{CorrelationID: ids.New(), Success: true},
		federation.EnvDisconnect:      federation.DisconnectBody{Reason: "x"},
		federation.EnvConnectResponse: federation.ConnectResponseBody{Accepted: true},
	}
	paths := map[string]string{
		federation.EnvQuery: "/incoming/query", federation.EnvCommand: "/incoming/command",
		federation.EnvCommandResponse: "/incoming/command/response", federation.EnvDisconnect: "/incoming/disconnect",
		federation.EnvConnectResponse: "/incoming/connect/response",
	}
	for envType, body := range bodies {
		path := paths[envType]
		good := func(mid string) []byte { return envelope(t, hub, spoke, envType, conn, mid, now, body) }
		cases := []struct {
			name   string
			env    []byte
			status int
			code   string
		}{
			{"tampered signature", tamper(t, good(ids.New()), "timestamp", now.UnixMilli()+1), 401, "invalid_signature"},
			{"stale timestamp", envelope(t, hub, spoke, envType, conn, ids.New(), now.Add(-6*time.Minute), body), 401, "stale_timestamp"},
			{"future timestamp", envelope(t, hub, spoke, envType, conn, ids.New(), now.Add(6*time.Minute), body), 401, "stale_timestamp"},
			{"unknown key", tamper(t, good(ids.New()), "keyId", "no-such-key"), 401, "unknown_key"},
			{"unknown connection", envelope(t, hub, spoke, envType, ids.New(), ids.New(), now, body), 401, "unknown_key"},
			{"another instance's connection", envelope(t, hub, spoke, envType, suspended, ids.New(), now, body), 403, "connection_not_active"},
			{"suspended connection", envelope(t, other, spoke, envType, suspended, ids.New(), now, body), 403, "connection_not_active"},
			{"missing fields", tamper(t, good(ids.New()), "messageId", nil), 400, "validation_failed"},
			{"not JSON", []byte(`{"type":`), 400, "invalid_json"},
			{"oversized", []byte(`{"pad":"` + strings.Repeat("x", 210*1024) + `"}`), 413, "payload_too_large"},
		}
		// Re-posted to another endpoint: type is signed, so it cannot be changed.
		for otherType, otherPath := range paths {
			if otherType != envType {
				cases = append(cases, struct {
					name   string
					env    []byte
					status int
					code   string
				}{"re-posted to " + otherPath, good(ids.New()), 400, "validation_failed"})
				_ = otherPath
				break
			}
		}
		for _, tc := range cases {
			if envType == federation.EnvDisconnect && tc.name == "suspended connection" {
				continue // a DISCONNECT is accepted while SUSPENDED (TestDisconnectWhileSuspended)
			}
			t.Run(envType+"/"+tc.name, func(t *testing.T) {
				target := path
				if strings.HasPrefix(tc.name, "re-posted to ") {
					target = strings.TrimPrefix(tc.name, "re-posted to ")
				}
				r := call(t, spoke, "POST", target, "", tc.env)
				if r.Status != tc.status || r.errorCode(t) != tc.code {
					t.Fatalf("%d %s, want %d %s", r.Status, r.Body, tc.status, tc.code)
				}
			})
		}
	}
	// Nothing stored: no inbound messages, connections unchanged.
	for _, list := range []string{"/queries", "/commands"} {
		var page struct{ Items []federation.Message }
		call(t, spoke, "GET", list+"?direction=INBOUND", spokeTok, nil).decode(t, &page)
		if len(page.Items) != 0 {
			t.Errorf("%s holds %d messages after only bad envelopes", list, len(page.Items))
		}
	}
	if got := connection(t, spoke, spokeTok, conn); got.Status != federation.StatusActive {
		t.Errorf("connection %s after bad envelopes", got.Status)
	}
}

func TestForgedAndBogusConnects(t *testing.T) {
	t.Parallel()
	c := clusterWith(t, fastRetries, "hub", "spoke", "mallory")
	hub, spoke, mallory := c.Instances["hub"], c.Instances["spoke"], c.Instances["mallory"]
	spokeTok := token(t, "default")
	hubDoc, _ := hub.App.Identity.Document(t.Context())
	mDoc, _ := mallory.App.Identity.Document(t.Context())
	keys := func(pem, keyID string) []federation.RemoteKey {
		return []federation.RemoteKey{{KeyID: keyID, Alg: "EdDSA", PublicKey: pem, Status: "current"}}
	}
	now := time.Now()

	// Mallory claims to be the hub: its CONNECT carries the hub's id and URL
	// but its own key, which the hub does not serve.
	forged := envelope(t, mallory, spoke, federation.EnvConnect, ids.New(), ids.New(), now, federation.ConnectBody{
		InstanceURL: hub.URL, Name: "hub", PublicKey: mDoc.PublicKey, PublicKeys: keys(mDoc.PublicKey, mDoc.KeyID),
	})
	forged = tamper(t, forged, "instanceId", hubDoc.InstanceID) // breaks the signature too …
	if r := call(t, spoke, "POST", "/incoming/connect", "", forged); r.Status != 401 || r.errorCode(t) != "invalid_signature" {
		t.Fatalf("forged CONNECT: %d %s", r.Status, r.Body)
	}
	// … so re-sign it properly with Mallory's key, keeping the hub's identity.
	connID := ids.New()
	signedForged := signAsWithInstance(t, mallory, hubDoc.InstanceID, spoke, federation.EnvConnect, connID, ids.New(), now, federation.ConnectBody{
		InstanceURL: hub.URL, Name: "hub", PublicKey: mDoc.PublicKey, PublicKeys: keys(mDoc.PublicKey, mDoc.KeyID),
	})
	if r := call(t, spoke, "POST", "/incoming/connect", "", signedForged); r.Status != 401 || r.errorCode(t) != "unknown_key" {
		t.Fatalf("CONNECT with a key not served at the claimed URL: %d %s", r.Status, r.Body)
	}
	// A stale CONNECT.
	stale := envelope(t, hub, spoke, federation.EnvConnect, ids.New(), ids.New(), now.Add(-10*time.Minute), federation.ConnectBody{
		InstanceURL: hub.URL, Name: "hub", PublicKey: hubDoc.PublicKey, PublicKeys: keys(hubDoc.PublicKey, hubDoc.KeyID),
	})
	if r := call(t, spoke, "POST", "/incoming/connect", "", stale); r.Status != 401 || r.errorCode(t) != "stale_timestamp" {
		t.Fatalf("stale CONNECT: %d %s", r.Status, r.Body)
	}
	if _, err := spoke.App.Store.Connections.GetByID(t.Context(), connID); err == nil {
		t.Fatal("a refused CONNECT stored a connection")
	}
	var list struct{ Items []federation.Connection }
	call(t, spoke, "GET", "/connections", spokeTok, nil).decode(t, &list)
	if len(list.Items) != 0 {
		t.Fatalf("refused CONNECTs stored %d connections", len(list.Items))
	}

	// A CONNECT_RESPONSE for a connection the hub never initiated.
	resp := envelope(t, spoke, hub, federation.EnvConnectResponse, ids.New(), ids.New(), now, federation.ConnectResponseBody{Accepted: true})
	if r := call(t, hub, "POST", "/incoming/connect/response", "", resp); r.Status != 401 || r.errorCode(t) != "unknown_key" {
		t.Fatalf("CONNECT_RESPONSE for an unknown connection: %d %s", r.Status, r.Body)
	}
	// … and for one the spoke initiated (INBOUND on the hub): a conflict, nothing changes.
	id := connect(t, spoke, hub, spokeTok, token(t, "default"))
	resp = envelope(t, spoke, hub, federation.EnvConnectResponse, id, ids.New(), now, federation.ConnectResponseBody{Accepted: false, Reason: "x"})
	if r := call(t, hub, "POST", "/incoming/connect/response", "", resp); r.Status != 409 {
		t.Fatalf("CONNECT_RESPONSE for an inbound connection: %d %s", r.Status, r.Body)
	}
	if got, _ := hub.App.Store.Connections.GetByID(t.Context(), id); got.Status != federation.StatusActive {
		t.Fatalf("connection %s after a bogus CONNECT_RESPONSE", got.Status)
	}
}

// The spoke is down while the hub disconnects: the DISCONNECT is retried
// and arrives once the spoke is back.
func TestDisconnectRetriedWhileSpokeDown(t *testing.T) {
	t.Parallel()
	c := clusterWith(t, fastRetries, "hub", "spoke")
	hub, spoke := c.Instances["hub"], c.Instances["spoke"]
	hubTok, spokeTok := token(t, "ws-hub"), token(t, "default")
	id := connect(t, hub, spoke, hubTok, spokeTok)

	spoke.Down()
	if r := call(t, hub, "POST", "/connections/"+id+"/disconnect", hubTok, nil); r.Status != 200 {
		t.Fatalf("disconnect: %d %s", r.Status, r.Body)
	}
	var notice *store.MessageRecord
	eventually(t, 15*time.Second, "the DISCONNECT retried at least twice", func() bool {
		notice = findControl(t, hub, "ws-hub", id, federation.EnvDisconnect)
		return notice != nil && notice.Attempts >= 2 && notice.Status == federation.MsgRetrying
	})
	if notice.NextAttemptAt == nil || notice.Error == "" {
		t.Fatalf("retrying notice without schedule or error: %+v", notice.Message)
	}
	if err := spoke.Up(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "spoke DISCONNECTED", func() bool {
		got, err := spoke.App.Store.Connections.GetByID(context.Background(), id)
		return err == nil && got.Status == federation.StatusDisconnected
	})
	eventually(t, 10*time.Second, "the notice DELIVERED", func() bool {
		n := findControl(t, hub, "ws-hub", id, federation.EnvDisconnect)
		return n != nil && n.Status == federation.MsgDelivered
	})
	_ = http.StatusOK
}
