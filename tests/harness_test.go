// Package tests holds the end-to-end tests: real fedgate instances started by
// the local runner on loopback, federating over HTTP, with moto_server behind.
package tests

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fedgate/fedgate/infra/local"
	"github.com/fedgate/fedgate/infra/local/devjwt"
	"github.com/fedgate/fedgate/shared/config"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/httpapi"
	"github.com/fedgate/fedgate/shared/localaws/awstest"
	"github.com/fedgate/fedgate/shared/routes"
	"github.com/fedgate/fedgate/shared/signing"
	"github.com/fedgate/fedgate/shared/store"
)

// testAuth is the dev identity provider shared by all instances of a test run.
var testAuth = func() *devjwt.Authority {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return devjwt.New(k)
}()

// cluster starts the named instances on free ports with fresh resources. With
// stateDir set, state survives a Stop and a new cluster on the same dir.
func cluster(t *testing.T, stateDir string, names ...string) *local.Cluster {
	t.Helper()
	prefix := awstest.Prefix(t)
	var specs []local.InstanceSpec
	for _, n := range names {
		specs = append(specs, local.InstanceSpec{Name: n, Prefix: prefix + n + "-"})
	}
	var w io.Writer = io.Discard
	if testing.Verbose() {
		w = os.Stderr
	}
	c, err := local.Start(context.Background(), local.Options{
		Endpoint: awstest.Endpoint(t), StateDir: stateDir, Instances: specs,
		Auth: testAuth, Logger: slog.New(slog.NewJSONHandler(w, nil)),
		ScheduleEvery: 5 * time.Second, // the runner's old default, which these tests were written against
		Teardown:      true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopChecked(t, c) })
	return c
}

// token mints a dev JWT for a workspace with OAuth scopes; without any, an
// administrator of the workspace (fedgate:admin), who may administer
// connections (PROTOCOL.md §5). memberToken is a user without a scope.
func token(t *testing.T, workspace string, scopes ...string) string {
	t.Helper()
	if len(scopes) == 0 {
		scopes = []string{routes.ScopeAdmin}
	}
	return mint(t, workspace, scopes)
}

// memberToken mints a dev JWT for a user of a workspace without any scope.
func memberToken(t *testing.T, workspace string) string {
	t.Helper()
	return mint(t, workspace, nil)
}

func mint(t *testing.T, workspace string, scopes []string) string {
	t.Helper()
	tok, err := testAuth.Mint(devjwt.Token{Subject: "user-" + workspace, Workspace: workspace, Scopes: scopes})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// response is an HTTP answer with its body read.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// decode unmarshals the body into v.
func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("body %s: %v", r.Body, err)
	}
}

// errorCode returns the PROTOCOL error code, failing if the body is not the error shape.
func (r response) errorCode(t *testing.T) string {
	t.Helper()
	var e httpapi.ErrorBody
	r.decode(t, &e)
	if e.Error.Code == "" || e.Error.RequestID == "" || e.Error.Message == "" {
		t.Fatalf("not a PROTOCOL error body: %s", r.Body)
	}
	return e.Error.Code
}

// call sends a request to an instance; path is relative to the base path.
func call(t *testing.T, inst *local.Instance, method, path, tok string, body any) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, _ := json.Marshal(b)
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, inst.URL+routes.BasePath+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	checkAnswer(t, req, resp, data) // every answer must match the OpenAPI document (openapi_test.go)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: data}
}

// devTokenFromOtherIssuer is a well-formed token signed by a key the
// instances do not trust.
func devTokenFromOtherIssuer(t *testing.T) string {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := devjwt.New(k).Mint(devjwt.Token{Subject: "mallory", Workspace: "ws-1", Scopes: []string{routes.ScopeInstance}})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	eventuallyEvery(t, within, 100*time.Millisecond, what, cond)
}

// eventuallyEvery is eventually with a chosen polling interval, for
// conditions that are expensive to check.
func eventuallyEvery(t *testing.T, within, every time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(every)
	}
}

// fastRetries makes delivery retries quick enough for tests.
func fastRetries(_ string, c *config.Config) {
	c.Retry = federation.RetryPolicy{BaseDelay: 200 * time.Millisecond, MaxDelay: time.Second, MaxAttempts: 20, MaxAge: time.Hour}
	c.OutboxGrace = time.Second
	c.KeyRefetchEvery = 200 * time.Millisecond
	c.Circuit = federation.Circuit{Threshold: 10, MinOpen: time.Second, MaxOpen: 4 * time.Second, SuspendAfter: 5 * 24 * time.Hour}
	c.AckDeadline = 2 * time.Second
}

// clusterWith starts instances with a configuration hook.
func clusterWith(t *testing.T, configure func(string, *config.Config), names ...string) *local.Cluster {
	t.Helper()
	prefix := awstest.Prefix(t)
	var specs []local.InstanceSpec
	for _, n := range names {
		specs = append(specs, local.InstanceSpec{Name: n, Prefix: prefix + n + "-", Alg: signing.EdDSA})
	}
	var w io.Writer = io.Discard
	if testing.Verbose() {
		w = os.Stderr
	}
	c, err := local.Start(context.Background(), local.Options{
		Endpoint: awstest.Endpoint(t), Instances: specs, Auth: testAuth, Logger: slog.New(slog.NewJSONHandler(w, nil)),
		// moto walks a whole table for every Query, and the scheduled functions
		// query: once a second keeps them from crowding out the real work.
		Visibility: 2 * time.Second, ScheduleEvery: time.Second, Configure: configure, Teardown: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopChecked(t, c) })
	return c
}

// connection reads one connection as the workspace's user.
func connection(t *testing.T, inst *local.Instance, tok, id string) federation.Connection {
	t.Helper()
	r := call(t, inst, "GET", "/connections/"+id, tok, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("GET connection %s: %d %s", id, r.Status, r.Body)
	}
	var c federation.Connection
	r.decode(t, &c)
	return c
}

// connect makes an ACTIVE connection from hub workspace hubWS to the spoke
// (accepted in the spoke's default inbound workspace) and returns its id.
func connect(t *testing.T, hub, spoke *local.Instance, hubTok, spokeTok string) string {
	t.Helper()
	r := call(t, hub, "POST", "/connections/initiate", hubTok, map[string]string{"remoteUrl": spoke.URL})
	if r.Status != http.StatusCreated {
		t.Fatalf("initiate: %d %s", r.Status, r.Body)
	}
	var c federation.Connection
	r.decode(t, &c)
	if r := call(t, spoke, "POST", "/connections/"+c.ID+"/accept", spokeTok, nil); r.Status != http.StatusOK {
		t.Fatalf("accept: %d %s", r.Status, r.Body)
	}
	eventually(t, 15*time.Second, "hub connection ACTIVE", func() bool {
		return connection(t, hub, hubTok, c.ID).Status == federation.StatusActive
	})
	return c.ID
}

func stringsContains(s, sub string) bool { return strings.Contains(s, sub) }

// envelope builds an envelope as inst would send it to `to`, signed with
// inst's current key, with a chosen messageId and timestamp.
func envelope(t *testing.T, inst, to *local.Instance, envType, connID, messageID string, ts time.Time, body any) []byte {
	t.Helper()
	id, _ := inst.App.Identity.ID(t.Context())
	return signAsWithInstance(t, inst, id, to, envType, connID, messageID, ts, body)
}

// signAsWithInstance signs with inst's key an envelope that claims to come
// from instanceID.
func signAsWithInstance(t *testing.T, inst *local.Instance, id string, to *local.Instance, envType, connID, messageID string, ts time.Time, body any) []byte {
	t.Helper()
	key, err := inst.App.Identity.Signer(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := federation.Merge(federation.Envelope{
		MessageID: messageID, Type: envType, InstanceID: id, ToInstanceID: instanceID(t, to), ToURL: to.URL, ConnectionID: connID, Timestamp: ts.UnixMilli(),
	}, body)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := signing.Sign(key, raw)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

// tamper changes one member of a signed envelope without re-signing it.
func tamper(t *testing.T, signed []byte, member string, value any) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(signed, &m); err != nil {
		t.Fatal(err)
	}
	if value == nil {
		delete(m, member)
	} else {
		m[member] = value
	}
	out, _ := json.Marshal(m)
	return out
}

// findControl returns the newest outgoing control message (CONNECT_RESPONSE,
// DISCONNECT, …) of a connection, or nil.
func findControl(t *testing.T, inst *local.Instance, ws, connID, envType string) *store.MessageRecord {
	t.Helper()
	recs, err := inst.App.Store.Messages.Outgoing(t.Context(), ws, connID, envType)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) == 0 {
		return nil
	}
	return recs[len(recs)-1]
}

// urls maps each instance id a test asked for to its url, so envelopes a
// test peer builds for an instance id name its toUrl too.
var urls sync.Map

// instanceID is an instance's id (what peers put in toInstanceId).
func instanceID(t *testing.T, inst *local.Instance) string {
	t.Helper()
	id, err := inst.App.Identity.ID(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	urls.Store(id, inst.URL)
	return id
}

// urlOf is the url of the instance with id (another origin when unknown).
func urlOf(id string) string {
	if u, ok := urls.Load(id); ok {
		return u.(string)
	}
	return "https://unknown.invalid"
}

// stopChecked stops a cluster and fails the test if any function of its
// instances touched an AWS resource its route row does not grant: every
// end-to-end test proves least privilege by behaviour.
func stopChecked(t *testing.T, c *local.Cluster) {
	t.Helper()
	c.Stop(context.Background())
	for name, inst := range c.Instances {
		for _, v := range inst.AccessViolations() {
			t.Errorf("%s: %s", name, v)
		}
	}
}
