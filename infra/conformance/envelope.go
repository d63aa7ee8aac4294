package conformance

// PROTOCOL.md §4, the envelope: how every section's checks build, sign and
// post one as the test peer, and check a signed answer in a response body.

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/fedgate/fedgate/shared/signing"
)

// sendOpt varies an envelope for a check.
type sendOpt struct {
	key   *signing.PrivateKey // sign with this key instead of the current one
	edit  func(envelope)      // change members before signing
	after func([]byte) []byte // change the signed bytes
	path  string              // post to this path instead of the type's own
	id    string              // messageId (default: a new one)
}

// send builds, signs and posts an envelope; it returns the answer and the messageId.
func (r *run) send(ctx context.Context, envType string, body map[string]any, o sendOpt) (reply, string, error) {
	id := o.id
	if id == "" {
		id = newID()
	}
	e := r.peer.envelope(envType, id, body)
	if o.edit != nil {
		o.edit(e)
	}
	key := o.key
	if key == nil {
		key = r.peer.currentKey()
	}
	raw, err := e.sign(key)
	if err != nil {
		return reply{}, id, err
	}
	if o.after != nil {
		raw = o.after(raw)
	}
	path := o.path
	if path == "" {
		path = incomingPath[envType]
	}
	rep, err := r.peer.post(ctx, path, raw)
	return rep, id, err
}

// event is an EVENT body for checks.
func event(eventType string) map[string]any {
	return map[string]any{"eventType": eventType, "payload": map[string]any{"check": "conformance"}}
}

// signedAnswer checks a signed answer in a response body (§3: verified like a request).
func (r *run) signedAnswer(rep reply, envType, correlationID string) (members, error) {
	if rep.Status != http.StatusOK {
		return nil, fmt.Errorf("answered %s, want 200 with a signed %s", rep, envType)
	}
	m, err := verifyEnvelope(rep.Body, expect{Type: envType, From: r.peer.targetDoc.InstanceID, To: r.peer.id, ToURL: r.peer.url,
		ConnectionID: r.peer.connID, CorrelationID: correlationID}, time.Now(), r.peer.targetKey)
	if err != nil {
		return m, fmt.Errorf("the %s in the answer: %v", envType, err)
	}
	return m, nil
}
