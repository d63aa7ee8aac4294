package tests

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gowebpki/jcs"

	"github.com/fedgate/fedgate/infra/local"
	"github.com/fedgate/fedgate/shared/ids"
	"github.com/fedgate/fedgate/shared/routes"
)

// hostilePeer is another organisation's server that speaks the protocol
// with its own Ed25519 keys and its own signing code (RFC 8785 through the
// jcs library and crypto/ed25519, not fedgate's signing package), so what it
// checks of fedgate's answers is checked independently. It serves its own
// GET /instance (which a test may bend: more keys, withdrawn or expired
// keys, a huge document), records what fedgate posts to it, and answers as
// the test says.
type hostilePeer struct {
	t   *testing.T
	srv *httptest.Server
	id  string

	mu       sync.Mutex
	keys     []*peerKey // keys[0] signs
	extraDoc map[string]any
	received map[string][][]byte
	answer   func(path string, body []byte) (int, []byte) // nil: 202 {}
	answerH  func(path string, body []byte) (int, []byte, http.Header)
}

// answerWith makes the peer answer with status, body and headers.
func (h *hostilePeer) answerWith(f func(path string, body []byte) (int, []byte, http.Header)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.answerH = f
}

type peerKey struct {
	id        string
	priv      ed25519.PrivateKey
	status    string
	expiresAt *time.Time
	withdrawn bool // no longer published
}

func newHostilePeer(t *testing.T) *hostilePeer {
	t.Helper()
	h := &hostilePeer{t: t, id: "mallory-" + ids.New(), received: map[string][][]byte{}}
	h.rotate()
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.srv.Close)
	return h
}

// rotate makes a new current key and retires the others (still published).
func (h *hostilePeer) rotate() *peerKey {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		h.t.Fatal(err)
	}
	k := &peerKey{id: "m-" + ids.Token(6), priv: priv, status: "current"}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, old := range h.keys {
		old.status = "retired"
	}
	h.keys = append([]*peerKey{k}, h.keys...)
	return k
}

func (k *peerKey) pem() string {
	der, _ := x509.MarshalPKIXPublicKey(k.priv.Public())
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func (k *peerKey) published() map[string]any {
	m := map[string]any{"keyId": k.id, "alg": "EdDSA", "publicKey": k.pem(), "status": k.status, "createdAt": time.Now().UTC()}
	if k.expiresAt != nil {
		m["expiresAt"] = k.expiresAt
	}
	return m
}

func (h *hostilePeer) document() map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	var keys []any
	for _, k := range h.keys {
		if !k.withdrawn {
			keys = append(keys, k.published())
		}
	}
	doc := map[string]any{
		"instanceId": h.id, "name": "mallory", "url": h.srv.URL, "publicKey": h.keys[0].pem(), "keyId": h.keys[0].id,
		"publicKeys": keys, "capabilities": map[string]any{"protocolVersion": "1", "messageTypes": []string{}, "commandTypes": []string{}, "eventTypes": []string{}},
		"metadata": map[string]any{},
	}
	for k, v := range h.extraDoc {
		doc[k] = v
	}
	return doc
}

func (h *hostilePeer) serve(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, routes.BasePath)
	w.Header().Set("Content-Type", "application/json")
	if r.Method == http.MethodGet && path == "/instance" {
		_ = json.NewEncoder(w).Encode(h.document())
		return
	}
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.received[path] = append(h.received[path], body)
	answer, answerH := h.answer, h.answerH
	h.mu.Unlock()
	status, out := http.StatusAccepted, []byte(`{}`)
	switch {
	case answerH != nil:
		var header http.Header
		status, out, header = answerH(path, body)
		for k, v := range header {
			w.Header()[k] = v
		}
	case answer != nil:
		status, out = answer(path, body)
	}
	w.WriteHeader(status)
	_, _ = w.Write(out)
}

// got returns what fedgate posted to path.
func (h *hostilePeer) got(path string) [][]byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([][]byte(nil), h.received[path]...)
}

// envelope is an unsigned envelope from this peer.
func (h *hostilePeer) envelope(typ, conn, to string, members map[string]any) map[string]any {
	env := map[string]any{"messageId": ids.New(), "type": typ, "instanceId": h.id, "toInstanceId": to, "toUrl": urlOf(to), "connectionId": conn, "timestamp": time.Now().UnixMilli()}
	for k, v := range members {
		env[k] = v
	}
	return env
}

// sign signs env with key (the current one when nil): keyId set, the JCS
// form of everything but the signature signed with Ed25519.
func (h *hostilePeer) sign(env map[string]any, key *peerKey) []byte {
	h.t.Helper()
	if key == nil {
		key = h.keys[0]
	}
	env["keyId"] = key.id
	delete(env, "signature")
	raw, err := json.Marshal(env)
	if err != nil {
		h.t.Fatal(err)
	}
	canonical, err := jcs.Transform(raw)
	if err != nil {
		canonical = raw // no JCS form (a number overflows): sign the bytes; the receiver refuses it first anyway
	}
	env["signature"] = base64.StdEncoding.EncodeToString(ed25519.Sign(key.priv, canonical))
	out, _ := json.Marshal(env)
	delete(env, "signature")
	return out
}

// verifiedFrom checks, with its own code, that raw is signed by inst's
// current Ed25519 key as inst publishes it.
func (h *hostilePeer) verifiedFrom(inst *local.Instance, raw []byte) bool {
	h.t.Helper()
	var doc struct {
		PublicKeys []struct{ KeyID, PublicKey string } `json:"publicKeys"`
	}
	call(h.t, inst, "GET", "/instance", "", nil).decode(h.t, &doc)
	var env map[string]any
	if json.Unmarshal(raw, &env) != nil {
		return false
	}
	sig, _ := base64.StdEncoding.DecodeString(env["signature"].(string))
	delete(env, "signature")
	unsigned, _ := json.Marshal(env)
	canonical, err := jcs.Transform(unsigned)
	if err != nil {
		return false
	}
	for _, k := range doc.PublicKeys {
		if k.KeyID != env["keyId"] {
			continue
		}
		block, _ := pem.Decode([]byte(k.PublicKey))
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return false
		}
		if ed, ok := pub.(ed25519.PublicKey); ok && ed25519.Verify(ed, canonical, sig) {
			return true
		}
	}
	return false
}

// connectBody is a CONNECT's members naming this peer.
func (h *hostilePeer) connectBody(invite string) map[string]any {
	h.mu.Lock()
	k := h.keys[0]
	h.mu.Unlock()
	body := map[string]any{
		"instanceUrl": h.srv.URL, "name": "mallory", "publicKey": k.pem(), "capabilities": map[string]any{},
		"publicKeys": []any{map[string]any{"keyId": k.id, "alg": "EdDSA", "publicKey": k.pem(), "status": "current"}},
	}
	if invite != "" {
		body["inviteToken"] = invite
	}
	return body
}

// joinWithInvite connects this peer to inst's workspace ws with an invite
// and returns the ACTIVE connection's id.
func (h *hostilePeer) joinWithInvite(inst *local.Instance, ws string) string {
	h.t.Helper()
	r := call(h.t, inst, "POST", "/connections/invites", token(h.t, ws, routes.ScopeAdmin), nil)
	var inv struct{ Token string }
	r.decode(h.t, &inv)
	conn := ids.New()
	env := h.envelope("CONNECT", conn, instanceID(h.t, inst), h.connectBody(inv.Token))
	r = call(h.t, inst, "POST", "/incoming/connect", "", h.sign(env, nil))
	if r.Status != http.StatusOK || !h.verifiedFrom(inst, r.Body) {
		h.t.Fatalf("CONNECT with an invite: %d %s", r.Status, r.Body)
	}
	return conn
}

// post sends a signed envelope to one of inst's /incoming/* endpoints.
func (h *hostilePeer) post(inst *local.Instance, path string, raw []byte) response {
	h.t.Helper()
	return call(h.t, inst, "POST", "/incoming"+path, "", raw)
}

// wantRefused checks a refusal's status and PROTOCOL code.
func wantRefused(t *testing.T, what string, r response, status int, code string) {
	t.Helper()
	if r.Status != status || r.errorCode(t) != code {
		t.Fatalf("%s: %d %s, want %d %s", what, r.Status, r.Body, status, code)
	}
}

func countItems(t *testing.T, inst *local.Instance, path, tok string) int {
	t.Helper()
	var page struct{ Items []json.RawMessage }
	call(t, inst, "GET", path, tok, nil).decode(t, &page)
	return len(page.Items)
}

func rawJSON(s string) json.RawMessage { return json.RawMessage(s) }

func bodyOf(v any) []byte {
	b, _ := json.Marshal(v)
	return bytes.TrimSpace(b)
}
