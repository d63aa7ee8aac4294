package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/fedgate/fedgate/shared/signing"
)

// peer is the short-lived instance the suite runs: its identity, keys and
// listener, and what the target sent it.
type peer struct {
	id   string
	url  string // scheme and authority the target reaches it at
	http *http.Client

	mu       sync.Mutex
	key      *signing.PrivateKey // current
	retired  []retiredKey
	created  time.Time
	fetches  int // GET /instance served
	inbox    []inbound
	changed  chan struct{}
	answers  map[string]reply // first answer per messageId (duplicates get it again)
	subs     []string         // event patterns the target subscribed to here
	listener net.Listener
	server   *http.Server

	// The target, once known.
	target    string // base URL
	targetDoc document
	connID    string
	fetchedAt time.Time
}

type retiredKey struct {
	key       *signing.PrivateKey
	created   time.Time
	expiresAt time.Time
}

// inbound is one envelope the target sent.
type inbound struct {
	Path string
	Raw  []byte
	M    members
	Err  error // why it did not verify
	At   time.Time
}

func newPeer(listen, publicURL string, hc *http.Client) (*peer, error) {
	key, err := signing.GenerateKey(signing.EdDSA)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", listen, err)
	}
	if publicURL == "" {
		publicURL = "http://" + l.Addr().String()
	}
	p := &peer{id: "conformance-" + newID(), url: strings.TrimRight(publicURL, "/"), http: hc, key: key,
		created: time.Now().UTC(), changed: make(chan struct{}), answers: map[string]reply{}, listener: l}
	p.server = &http.Server{Handler: http.HandlerFunc(p.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.server.Serve(l) }()
	return p, nil
}

func (p *peer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = p.server.Shutdown(ctx)
}

// document is the peer's own identity document.
func (p *peer) document() document {
	p.mu.Lock()
	defer p.mu.Unlock()
	keys := []publishedKey{{KeyID: p.key.ID(), Alg: string(p.key.Alg()), PublicKey: p.key.Public().PEM(), Status: "current",
		CreatedAt: p.created.Format(time.RFC3339)}}
	for _, r := range p.retired {
		keys = append(keys, publishedKey{KeyID: r.key.ID(), Alg: string(r.key.Alg()), PublicKey: r.key.Public().PEM(),
			Status: "retired", CreatedAt: r.created.Format(time.RFC3339), ExpiresAt: r.expiresAt.Format(time.RFC3339)})
	}
	return document{InstanceID: p.id, Name: "fedgate conformance peer", URL: p.url, PublicKey: p.key.Public().PEM(),
		KeyID: p.key.ID(), PublicKeys: keys, Metadata: map[string]any{},
		Capabilities: capabilities{ProtocolVersion: protocolVersion, MessageTypes: envelopeTypes,
			CommandTypes: []string{"event.subscribe", "event.unsubscribe", "event.sync"}, EventTypes: []string{"conformance.ping"}}}
}

// rotate makes a new current key; the old one stays published as retired.
func (p *peer) rotate() (old *signing.PrivateKey, err error) {
	key, err := signing.GenerateKey(signing.EdDSA)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	old = p.key
	p.retired = append(p.retired, retiredKey{key: old, created: p.created, expiresAt: time.Now().Add(7 * 24 * time.Hour).UTC()})
	p.key, p.created = key, time.Now().UTC()
	return old, nil
}

func (p *peer) currentKey() *signing.PrivateKey {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.key
}

func (p *peer) fetchCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fetches
}

// serve is the peer's HTTP side: its identity and /incoming/*.
func (p *peer) serve(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, basePath)
	if r.Method == http.MethodGet && path == "/instance" {
		p.mu.Lock()
		p.fetches++
		p.mu.Unlock()
		writeJSON(w, http.StatusOK, p.document())
		return
	}
	if r.Method != http.MethodPost || !strings.HasPrefix(path, "/incoming/") {
		writeError(w, http.StatusNotFound, "not_found", "no route for this method and path")
		return
	}
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 256<<10))
	status, body := p.receive(path, raw)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// receive verifies an envelope from the target and answers it as PROTOCOL.md
// says a receiver does; a duplicate gets its first answer again.
func (p *peer) receive(path string, raw []byte) (int, []byte) {
	wantType := ""
	for t, pth := range incomingPath {
		if pth == path {
			wantType = t
		}
	}
	in := inbound{Path: path, Raw: raw, At: time.Now()}
	p.mu.Lock()
	target, connID := p.targetDoc.InstanceID, p.connID
	p.mu.Unlock()
	m, err := verifyEnvelope(raw, expect{Type: wantType, From: target, To: p.id, ToURL: p.url, ConnectionID: connID}, time.Now(), p.targetKey)
	in.M, in.Err = m, err
	p.record(in)
	if err != nil {
		return errorJSON(http.StatusUnauthorized, "invalid_signature", err.Error())
	}
	msgID := m.str("messageId")
	p.mu.Lock()
	if first, ok := p.answers[msgID]; ok {
		p.mu.Unlock()
		return first.Status, first.Body
	}
	p.mu.Unlock()
	var status int
	var body []byte
	switch wantType {
	case "EVENT":
		received := p.subscribed(m.str("eventType"))
		ack, err := p.envelope("EVENT_ACK", newID(), map[string]any{"correlationId": msgID, "received": received}).sign(p.currentKey())
		if err != nil {
			return errorJSON(http.StatusInternalServerError, "internal", "signing failed")
		}
		status, body = http.StatusOK, ack
	case "COMMAND":
		status, body = mustJSON(http.StatusAccepted, map[string]any{"accepted": true, "messageId": msgID})
		go p.respondToCommand(m)
	case "QUERY":
		resp, err := p.envelope("QUERY_RESPONSE", newID(), map[string]any{"correlationId": msgID, "success": false, "error": "unknown query"}).sign(p.currentKey())
		if err != nil {
			return errorJSON(http.StatusInternalServerError, "internal", "signing failed")
		}
		status, body = http.StatusOK, resp
	case "DISCONNECT":
		status, body = mustJSON(http.StatusOK, map[string]string{"status": "DISCONNECTED"})
	case "CONNECT_RESPONSE":
		status, body = mustJSON(http.StatusOK, map[string]string{"status": "ACTIVE"})
	case "COMMAND_RESPONSE":
		status, body = mustJSON(http.StatusOK, map[string]string{"status": "COMPLETED"})
	case "EVENT_ACK":
		status, body = mustJSON(http.StatusOK, map[string]string{"status": "DELIVERED"})
	default:
		return errorJSON(http.StatusForbidden, "forbidden", "this peer accepts no "+wantType)
	}
	p.mu.Lock()
	p.answers[msgID] = reply{Status: status, Body: body}
	p.mu.Unlock()
	return status, body
}

// subscribed reports whether the target subscribed here to eventType.
func (p *peer) subscribed(eventType string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.subs {
		if s == eventType || strings.HasSuffix(s, ".*") && strings.HasPrefix(eventType, strings.TrimSuffix(s, "*")) {
			return true
		}
	}
	return false
}

// respondToCommand sends the COMMAND_RESPONSE of a COMMAND the target sent:
// event.subscribe and event.unsubscribe change what it is sent.
func (p *peer) respondToCommand(m members) {
	var payload struct {
		EventType string `json:"eventType"`
	}
	_ = json.Unmarshal(m["payload"], &payload)
	success, errText := true, ""
	p.mu.Lock()
	switch m.str("commandType") {
	case "event.subscribe":
		p.subs = append(p.subs, payload.EventType)
	case "event.unsubscribe":
		var keep []string
		for _, s := range p.subs {
			if s != payload.EventType {
				keep = append(keep, s)
			}
		}
		p.subs = keep
	case "event.sync":
	default:
		success, errText = false, "unknown command"
	}
	p.mu.Unlock()
	body := map[string]any{"correlationId": m.str("messageId"), "success": success}
	if errText != "" {
		body["error"] = errText
	}
	time.Sleep(50 * time.Millisecond)
	_, _ = p.sendSigned(context.Background(), "COMMAND_RESPONSE", newID(), body)
}

func (p *peer) record(in inbound) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inbox = append(p.inbox, in)
	close(p.changed)
	p.changed = make(chan struct{})
}

// await waits for an envelope from the target that match accepts.
func (p *peer) await(ctx context.Context, within time.Duration, match func(inbound) bool) (inbound, bool) {
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	seen := 0
	for {
		p.mu.Lock()
		inbox, changed := p.inbox, p.changed
		p.mu.Unlock()
		for _, in := range inbox[seen:] {
			if match(in) {
				return in, true
			}
		}
		seen = len(inbox)
		select {
		case <-changed:
		case <-deadline.C:
			return inbound{}, false
		case <-ctx.Done():
			return inbound{}, false
		}
	}
}

// targetKey finds a key the target publishes, fetching its GET /instance
// again (at most once a second) when the key is unknown.
func (p *peer) targetKey(keyID string) (publishedKey, bool) {
	find := func(doc document) (publishedKey, bool) {
		for _, k := range doc.PublicKeys {
			if k.KeyID == keyID || keyID == "" && k.Status == "current" {
				if k.ExpiresAt != "" {
					if exp, err := time.Parse(time.RFC3339, k.ExpiresAt); err == nil && time.Now().After(exp) {
						return publishedKey{}, false
					}
				}
				return k, true
			}
		}
		return publishedKey{}, false
	}
	p.mu.Lock()
	doc, fetchedAt := p.targetDoc, p.fetchedAt
	p.mu.Unlock()
	if k, ok := find(doc); ok {
		return k, true
	}
	if time.Since(fetchedAt) < time.Second {
		return publishedKey{}, false
	}
	if _, _, err := p.fetchTarget(context.Background()); err != nil {
		return publishedKey{}, false
	}
	p.mu.Lock()
	doc = p.targetDoc
	p.mu.Unlock()
	return find(doc)
}

// fetchTarget reads the target's GET /instance.
func (p *peer) fetchTarget(ctx context.Context) (document, reply, error) {
	r, err := p.do(ctx, http.MethodGet, "/instance", "", nil)
	if err != nil {
		return document{}, r, err
	}
	var doc document
	if r.Status != http.StatusOK {
		return doc, r, fmt.Errorf("GET /instance answered %s", r)
	}
	if err := json.Unmarshal(r.Body, &doc); err != nil {
		return doc, r, fmt.Errorf("GET /instance is not a JSON identity document: %v", err)
	}
	p.mu.Lock()
	p.targetDoc, p.fetchedAt = doc, time.Now()
	p.mu.Unlock()
	return doc, r, nil
}

// envelope starts an envelope from this peer to the target.
func (p *peer) envelope(envType, messageID string, body map[string]any) envelope {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := envelope{"messageId": messageID, "type": envType, "instanceId": p.id, "toInstanceId": p.targetDoc.InstanceID,
		"toUrl": p.targetDoc.URL, "connectionId": p.connID, "timestamp": time.Now().UnixMilli()}
	for k, v := range body {
		e[k] = v
	}
	return e
}

// sendSigned signs an envelope with the current key and posts it.
func (p *peer) sendSigned(ctx context.Context, envType, messageID string, body map[string]any) (reply, error) {
	raw, err := p.envelope(envType, messageID, body).sign(p.currentKey())
	if err != nil {
		return reply{}, err
	}
	return p.post(ctx, incomingPath[envType], raw)
}

// post sends raw bytes to one of the target's /incoming/* paths.
func (p *peer) post(ctx context.Context, path string, raw []byte) (reply, error) {
	return p.do(ctx, http.MethodPost, path, "", raw)
}

// do calls the target; token authenticates user-API calls.
func (p *peer) do(ctx context.Context, method, path, token string, body []byte) (reply, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.target+basePath+path, rd)
	if err != nil {
		return reply{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return reply{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return reply{}, err
	}
	return reply{Status: resp.StatusCode, Body: data}, nil
}

// user calls the target's user API with the token and a JSON body.
func (p *peer) user(ctx context.Context, token, method, path string, q url.Values, body any) (reply, error) {
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
	}
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	return p.do(ctx, method, path, token, raw)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	_, body := mustJSON(status, v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	_, body := errorJSON(status, code, msg)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func mustJSON(status int, v any) (int, []byte) {
	data, _ := json.Marshal(v)
	return status, data
}

func errorJSON(status int, code, msg string) (int, []byte) {
	var e errorBody
	e.Error.Code, e.Error.Message, e.Error.RequestID = code, msg, newID()
	return mustJSON(status, e)
}
