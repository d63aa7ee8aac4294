package conformance

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fedgate/fedgate/shared/signing"
)

// Written from PROTOCOL.md: the paths (§5–§8), the envelope members (§4)
// and the identity document (§5).
const (
	basePath        = "/api/v1/federation"
	protocolVersion = "1"
	maxSkew         = 5 * time.Minute
)

// Incoming paths by envelope type (PROTOCOL.md §5–§8).
var incomingPath = map[string]string{
	"CONNECT":          "/incoming/connect",
	"CONNECT_RESPONSE": "/incoming/connect/response",
	"DISCONNECT":       "/incoming/disconnect",
	"QUERY":            "/incoming/query",
	"COMMAND":          "/incoming/command",
	"COMMAND_RESPONSE": "/incoming/command/response",
	"EVENT":            "/incoming/event",
	"EVENT_ACK":        "/incoming/event/ack",
}

var envelopeTypes = []string{"CONNECT", "CONNECT_RESPONSE", "DISCONNECT", "QUERY", "QUERY_RESPONSE", "COMMAND",
	"COMMAND_RESPONSE", "EVENT", "EVENT_ACK"}

// headerMembers are the members every envelope must have (§3 step 1, §4).
var headerMembers = []string{"messageId", "type", "instanceId", "toInstanceId", "toUrl", "connectionId", "timestamp", "signature"}

// document is an identity document (GET /instance, §5).
type document struct {
	InstanceID   string         `json:"instanceId"`
	Name         string         `json:"name"`
	URL          string         `json:"url"`
	PublicKey    string         `json:"publicKey"`
	KeyID        string         `json:"keyId"`
	PublicKeys   []publishedKey `json:"publicKeys"`
	Capabilities capabilities   `json:"capabilities"`
	Metadata     map[string]any `json:"metadata"`
}

type publishedKey struct {
	KeyID     string `json:"keyId"`
	Alg       string `json:"alg"`
	PublicKey string `json:"publicKey"`
	Status    string `json:"status"`
	CreatedAt string `json:"createdAt"`
	ExpiresAt string `json:"expiresAt,omitempty"`
}

type capabilities struct {
	ProtocolVersion string   `json:"protocolVersion"`
	MessageTypes    []string `json:"messageTypes"`
	CommandTypes    []string `json:"commandTypes"`
	EventTypes      []string `json:"eventTypes"`
}

// newID is a random message or connection id.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// envelope is an envelope being built: its members before signing.
type envelope map[string]any

// sign signs the envelope with key (shared/signing: RFC 8785 without
// "signature", keyId set to the key's id).
func (e envelope) sign(key *signing.PrivateKey) ([]byte, error) {
	raw, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	return signing.Sign(key, raw)
}

// members is a received envelope's members.
type members map[string]json.RawMessage

func parseMembers(raw []byte) (members, error) {
	var m members
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, errors.New("not a JSON object")
	}
	return m, nil
}

func (m members) str(name string) string {
	var s string
	_ = json.Unmarshal(m[name], &s)
	return s
}

func (m members) boolean(name string) (bool, bool) {
	var b bool
	err := json.Unmarshal(m[name], &b)
	return b, err == nil && m[name] != nil
}

func (m members) int64(name string) (int64, bool) {
	var n int64
	err := json.Unmarshal(m[name], &n)
	return n, err == nil
}

// expect describes what a received signed envelope must be.
type expect struct {
	Type          string
	From, To      string // instanceId, toInstanceId
	ToURL         string // toUrl: the receiving peer's url
	ConnectionID  string
	CorrelationID string // for answers
}

// verifyEnvelope checks a signed envelope from the target: PROTOCOL.md §3's
// checks from the receiving side. keys looks up a published key by id
// ("" for the current one); it may fetch the target's document again.
func verifyEnvelope(raw []byte, want expect, now time.Time, keys func(keyID string) (publishedKey, bool)) (members, error) {
	m, err := parseMembers(raw)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, name := range headerMembers {
		if _, ok := m[name]; !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return m, fmt.Errorf("members missing: %s", strings.Join(missing, ", "))
	}
	if got := m.str("type"); got != want.Type {
		return m, fmt.Errorf("type %q, want %s", got, want.Type)
	}
	ts, ok := m.int64("timestamp")
	if !ok {
		return m, errors.New("timestamp is not an integer of milliseconds")
	}
	if d := now.Sub(time.UnixMilli(ts)); d > maxSkew || d < -maxSkew {
		return m, fmt.Errorf("timestamp is %s from now", d.Round(time.Second))
	}
	for name, v := range map[string]string{"instanceId": want.From, "toInstanceId": want.To, "toUrl": want.ToURL, "connectionId": want.ConnectionID, "correlationId": want.CorrelationID} {
		if v != "" && m.str(name) != v {
			return m, fmt.Errorf("%s %q, want %q", name, m.str(name), v)
		}
	}
	k, ok := keys(m.str("keyId"))
	if !ok {
		return m, fmt.Errorf("keyId %q is not published by the target", m.str("keyId"))
	}
	alg, err := signing.ParseAlg(k.Alg)
	if err != nil {
		return m, fmt.Errorf("key %s: %v", k.KeyID, err)
	}
	pub, err := signing.ParsePublicKeyPEM(alg, k.PublicKey)
	if err != nil {
		return m, fmt.Errorf("key %s: %v", k.KeyID, err)
	}
	if err := signing.Verify(pub, raw); err != nil {
		return m, fmt.Errorf("signature does not verify with key %s: %v", k.KeyID, err)
	}
	return m, nil
}

// errorBody is PROTOCOL.md §1's error body.
type errorBody struct {
	Error struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		RequestID string `json:"requestId"`
	} `json:"error"`
}

// reply is an HTTP answer from the target.
type reply struct {
	Status int
	Body   []byte
}

func (r reply) String() string {
	body := string(r.Body)
	if len(body) > 300 {
		body = body[:300] + "…"
	}
	return fmt.Sprintf("%d %s", r.Status, strings.TrimSpace(body))
}

// protocolError returns the answer's error code, or an error when the body
// is not the PROTOCOL error shape.
func (r reply) protocolError() (string, error) {
	var e errorBody
	if json.Unmarshal(r.Body, &e) != nil || e.Error.Code == "" || e.Error.Message == "" || e.Error.RequestID == "" {
		return "", fmt.Errorf("answered %s, not a PROTOCOL error body {error: {code, message, requestId}}", r)
	}
	return e.Error.Code, nil
}

// expectError checks for a PROTOCOL error with this status and code.
func (r reply) expectError(status int, code string) error {
	got, err := r.protocolError()
	if err != nil {
		return err
	}
	if r.Status != status || got != code {
		return fmt.Errorf("got %d %s, want %d %s", r.Status, got, status, code)
	}
	return nil
}
