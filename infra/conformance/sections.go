package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
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
	m, err := verifyEnvelope(rep.Body, expect{Type: envType, From: r.peer.targetDoc.InstanceID, To: r.peer.id,
		ConnectionID: r.peer.connID, CorrelationID: correlationID}, time.Now(), r.peer.targetKey)
	if err != nil {
		return m, fmt.Errorf("the %s in the answer: %v", envType, err)
	}
	return m, nil
}

// ---- §5 identity

func (r *run) identitySection(ctx context.Context) {
	var doc document
	var raw reply
	fetched := r.check(ctx, "identity", "GET /instance answers 200 with a JSON identity document", func(ctx context.Context) error {
		var err error
		doc, raw, err = r.peer.fetchTarget(ctx)
		return err
	})
	if !fetched {
		return
	}
	r.check(ctx, "identity", "the document has instanceId, name, url, publicKey, keyId, publicKeys, capabilities and metadata", func(context.Context) error {
		var m map[string]json.RawMessage
		_ = json.Unmarshal(raw.Body, &m)
		var missing []string
		for _, k := range []string{"instanceId", "name", "url", "publicKey", "keyId", "publicKeys", "capabilities", "metadata"} {
			if v, ok := m[k]; !ok || string(v) == "null" {
				missing = append(missing, k)
			}
		}
		if len(missing) > 0 || doc.InstanceID == "" {
			return fmt.Errorf("missing or null: %s", strings.Join(missing, ", "))
		}
		return nil
	})
	r.check(ctx, "identity", "keyId names a current key, and publicKey is that key", func(context.Context) error {
		for _, k := range doc.PublicKeys {
			if k.KeyID == doc.KeyID {
				if k.Status != "current" || k.PublicKey != doc.PublicKey {
					return fmt.Errorf("key %s has status %q; its publicKey equals the document's: %v", k.KeyID, k.Status, k.PublicKey == doc.PublicKey)
				}
				return nil
			}
		}
		return fmt.Errorf("keyId %q is not among publicKeys", doc.KeyID)
	})
	r.check(ctx, "identity", "every published key has keyId, alg RS256 or EdDSA, an SPKI PEM key, status and createdAt; retired keys an expiresAt", func(context.Context) error {
		if len(doc.PublicKeys) == 0 {
			return fmt.Errorf("publicKeys is empty")
		}
		for _, k := range doc.PublicKeys {
			alg, err := signing.ParseAlg(k.Alg)
			if err != nil {
				return fmt.Errorf("key %s: %v", k.KeyID, err)
			}
			if _, err := signing.ParsePublicKeyPEM(alg, k.PublicKey); err != nil || !strings.Contains(k.PublicKey, "-----BEGIN PUBLIC KEY-----") {
				return fmt.Errorf("key %s is not an SPKI PEM public key of %s", k.KeyID, k.Alg)
			}
			if _, err := time.Parse(time.RFC3339, k.CreatedAt); err != nil {
				return fmt.Errorf("key %s: createdAt %q is not RFC 3339", k.KeyID, k.CreatedAt)
			}
			switch k.Status {
			case "current":
			case "retired":
				if _, err := time.Parse(time.RFC3339, k.ExpiresAt); err != nil {
					return fmt.Errorf("retired key %s has no RFC 3339 expiresAt", k.KeyID)
				}
			default:
				return fmt.Errorf("key %s has status %q", k.KeyID, k.Status)
			}
		}
		return nil
	})
	r.check(ctx, "identity", `capabilities: protocolVersion "1" and the lists messageTypes, commandTypes, eventTypes`, func(context.Context) error {
		var m struct {
			Capabilities map[string]json.RawMessage `json:"capabilities"`
		}
		_ = json.Unmarshal(raw.Body, &m)
		if doc.Capabilities.ProtocolVersion != protocolVersion {
			return fmt.Errorf("protocolVersion %q", doc.Capabilities.ProtocolVersion)
		}
		for _, list := range []string{"messageTypes", "commandTypes", "eventTypes"} {
			var l []string
			if json.Unmarshal(m.Capabilities[list], &l) != nil || l == nil {
				return fmt.Errorf("capabilities.%s is not a list", list)
			}
		}
		for _, t := range []string{"QUERY", "COMMAND", "EVENT"} {
			if !slices.Contains(doc.Capabilities.MessageTypes, t) {
				return fmt.Errorf("messageTypes lacks %s", t)
			}
		}
		return nil
	})
	r.check(ctx, "identity", "url is the instance's base URL: scheme and authority only", func(context.Context) error {
		u, err := url.Parse(doc.URL)
		if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" {
			return fmt.Errorf("url %q", doc.URL)
		}
		if !r.opts.Dev && u.Scheme != "https" {
			return fmt.Errorf("url %q is not https", doc.URL)
		}
		return nil
	})
	r.check(ctx, "identity", "the document holds no private key material", func(context.Context) error {
		lower := strings.ToLower(string(raw.Body))
		for _, bad := range []string{"private key", "privatekey", "\"d\":"} {
			if strings.Contains(lower, bad) {
				return fmt.Errorf("the document contains %q", bad)
			}
		}
		return nil
	})
}

// ---- §5 handshake

func (r *run) handshakeSection(ctx context.Context) {
	p := r.peer
	if p.targetDoc.InstanceID == "" {
		r.check(ctx, "handshake", "the handshake", func(context.Context) error { return skip("needs the target's identity document") })
		return
	}
	p.connID = newID()
	if !r.check(ctx, "handshake", "the token makes an invite: POST /connections/invites answers 201 {token, expiresAt}", func(ctx context.Context) error {
		rep, err := p.user(ctx, r.opts.Token, http.MethodPost, "/connections/invites", nil, map[string]any{})
		if err != nil {
			return err
		}
		var inv struct {
			Token     string `json:"token"`
			ExpiresAt string `json:"expiresAt"`
		}
		if rep.Status != http.StatusCreated || json.Unmarshal(rep.Body, &inv) != nil || inv.Token == "" || inv.ExpiresAt == "" {
			return fmt.Errorf("answered %s (the token needs scope fedgate:admin)", rep)
		}
		r.invite = inv.Token
		return nil
	}) {
		return
	}
	connect := func(connID, invite string, edit func(envelope)) envelope {
		doc := p.document()
		caps, _ := json.Marshal(doc.Capabilities)
		body := map[string]any{"instanceUrl": p.url, "name": doc.Name, "publicKey": doc.PublicKey, "publicKeys": doc.PublicKeys,
			"capabilities": json.RawMessage(caps)}
		if invite != "" {
			body["inviteToken"] = invite
		}
		e := p.envelope("CONNECT", newID(), body)
		e["connectionId"] = connID
		if edit != nil {
			edit(e)
		}
		return e
	}
	fetchesBefore := p.fetchCount()
	if !r.check(ctx, "handshake", "CONNECT with the invite is answered 200 with a CONNECT_RESPONSE", func(ctx context.Context) error {
		raw, err := connect(p.connID, r.invite, nil).sign(p.currentKey())
		if err != nil {
			return err
		}
		r.handshake = raw
		r.connectResp, err = p.post(ctx, incomingPath["CONNECT"], raw)
		if err != nil {
			return err
		}
		if r.connectResp.Status != http.StatusOK {
			return fmt.Errorf("answered %s", r.connectResp)
		}
		return nil
	}) {
		return
	}
	r.connected = r.check(ctx, "handshake", "the CONNECT_RESPONSE is signed by a key the target publishes, fresh, addressed to this peer on this connection", func(context.Context) error {
		_, err := r.signedAnswer(r.connectResp, "CONNECT_RESPONSE", "")
		return err
	})
	r.check(ctx, "handshake", "the CONNECT_RESPONSE says accepted=true with the target's publicKey and capabilities", func(context.Context) error {
		m, err := parseMembers(r.connectResp.Body)
		if err != nil {
			return err
		}
		if ok, has := m.boolean("accepted"); !has || !ok {
			return fmt.Errorf("accepted is %s", m["accepted"])
		}
		if m.str("publicKey") == "" || m["capabilities"] == nil {
			return fmt.Errorf("publicKey or capabilities missing")
		}
		return nil
	})
	r.check(ctx, "handshake", "the target fetched this peer's GET /instance to check the CONNECT's key", func(context.Context) error {
		if p.fetchCount() <= fetchesBefore {
			return fmt.Errorf("no GET /instance reached this peer: a CONNECT must be checked against the key its sender serves")
		}
		return nil
	})
	if !r.connected {
		return
	}
	r.check(ctx, "handshake", "the same CONNECT again gets the first answer, byte for byte", func(ctx context.Context) error {
		rep, err := p.post(ctx, incomingPath["CONNECT"], r.handshake)
		if err != nil {
			return err
		}
		return sameAnswer(r.connectResp, rep)
	})
	r.check(ctx, "handshake", "another CONNECT on the same connection id gets 409 conflict naming no id", func(ctx context.Context) error {
		raw, err := connect(p.connID, "", nil).sign(p.currentKey())
		if err != nil {
			return err
		}
		rep, err := p.post(ctx, incomingPath["CONNECT"], raw)
		if err != nil {
			return err
		}
		if err := rep.expectError(http.StatusConflict, "conflict"); err != nil {
			return err
		}
		if bytes.Contains(rep.Body, []byte(p.connID)) {
			return fmt.Errorf("the answer names the connection id: %s", rep)
		}
		return nil
	})
	r.check(ctx, "handshake", "the user sees the connection ACTIVE (GET /connections/{id})", func(ctx context.Context) error {
		return r.connectionStatus(ctx, "ACTIVE")
	})
	for _, bad := range []struct {
		name   string
		status int
		code   string
		edit   func(envelope)
		after  func([]byte) []byte
	}{
		{"a CONNECT with a bad signature gets 401 invalid_signature", http.StatusUnauthorized, "invalid_signature", nil,
			func(raw []byte) []byte { return bytes.Replace(raw, []byte(`"name":"`), []byte(`"name":"X`), 1) }},
		{"a CONNECT addressed to another instance gets 401 wrong_recipient", http.StatusUnauthorized, "wrong_recipient",
			func(e envelope) { e["toInstanceId"] = "another-" + newID() }, nil},
		{"a CONNECT carrying 11 keys gets 400 validation_failed (bounded identity)", http.StatusBadRequest, "validation_failed",
			func(e envelope) {
				keys := e["publicKeys"].([]publishedKey)
				for len(keys) < 11 {
					k := keys[0]
					k.KeyID = fmt.Sprintf("extra-%d", len(keys))
					keys = append(keys, k)
				}
				e["publicKeys"] = keys
			}, nil},
	} {
		r.check(ctx, "handshake", bad.name, func(ctx context.Context) error {
			raw, err := connect(newID(), "", bad.edit).sign(p.currentKey())
			if err != nil {
				return err
			}
			if bad.after != nil {
				raw = bad.after(raw)
			}
			rep, err := p.post(ctx, incomingPath["CONNECT"], raw)
			if err != nil {
				return err
			}
			return rep.expectError(bad.status, bad.code)
		})
	}
}

// sameAnswer checks that a duplicate got the first answer byte for byte.
func sameAnswer(first, again reply) error {
	if first.Status != again.Status || !bytes.Equal(first.Body, again.Body) {
		return fmt.Errorf("first answer %s, the duplicate got %s", first, again)
	}
	return nil
}

// connectionStatus checks the connection's status through the user API.
func (r *run) connectionStatus(ctx context.Context, want string) error {
	rep, err := r.peer.user(ctx, r.opts.Token, http.MethodGet, "/connections/"+r.peer.connID, nil, nil)
	if err != nil {
		return err
	}
	var c struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	if rep.Status != http.StatusOK || json.Unmarshal(rep.Body, &c) != nil {
		return fmt.Errorf("GET /connections/%s answered %s", r.peer.connID, rep)
	}
	if c.Status != want || c.ID != r.peer.connID {
		return fmt.Errorf("status %s, want %s", c.Status, want)
	}
	return nil
}

// ---- §3 keys: this peer rotates its key mid-run

func (r *run) keysSection(ctx context.Context) {
	var old *signing.PrivateKey
	r.check(ctx, "keys", "after this peer rotates its key, an EVENT signed with the new key is accepted (the target fetched GET /instance again)", func(ctx context.Context) error {
		if err := r.needConnection(); err != nil {
			return err
		}
		var err error
		if old, err = r.peer.rotate(); err != nil {
			return err
		}
		before := r.peer.fetchCount()
		rep, id, err := r.send(ctx, "EVENT", event("conformance.keys"), sendOpt{})
		if err != nil {
			return err
		}
		if _, err := r.signedAnswer(rep, "EVENT_ACK", id); err != nil {
			return err
		}
		if r.peer.fetchCount() == before {
			return fmt.Errorf("accepted without fetching the new key")
		}
		return nil
	})
	r.check(ctx, "keys", "an EVENT signed with the retired key is accepted until its expiresAt", func(ctx context.Context) error {
		if old == nil {
			return skip("needs the rotation")
		}
		rep, id, err := r.send(ctx, "EVENT", event("conformance.keys"), sendOpt{key: old})
		if err != nil {
			return err
		}
		_, err = r.signedAnswer(rep, "EVENT_ACK", id)
		return err
	})
	r.check(ctx, "keys", "an EVENT under a keyId this peer never published gets 401 unknown_key", func(ctx context.Context) error {
		if err := r.needConnection(); err != nil {
			return err
		}
		other, err := signing.GenerateKey(signing.EdDSA)
		if err != nil {
			return err
		}
		rep, _, err := r.send(ctx, "EVENT", event("conformance.keys"), sendOpt{key: other})
		if err != nil {
			return err
		}
		return rep.expectError(http.StatusUnauthorized, "unknown_key")
	})
}

// ---- §3 verification, in its order, on /incoming/event

func (r *run) verificationSection(ctx context.Context) {
	type bad struct {
		name   string
		status int
		code   string
		opt    sendOpt
		body   map[string]any
	}
	tamper := func(raw []byte) []byte {
		return bytes.Replace(raw, []byte(`"check":"conformance"`), []byte(`"check":"tampered!!"`), 1)
	}
	var refused []string
	cases := []bad{
		{name: "a body that is not JSON gets 400 invalid_json", status: 400, code: "invalid_json",
			opt: sendOpt{after: func([]byte) []byte { return []byte(`{"messageId": "x", "type": "EVENT",`) }}},
	}
	for _, member := range headerMembers {
		cases = append(cases, bad{name: "an envelope without " + member + " gets 400 validation_failed", status: 400, code: "validation_failed",
			opt: sendOpt{after: func(raw []byte) []byte {
				var m map[string]json.RawMessage
				_ = json.Unmarshal(raw, &m)
				delete(m, member)
				out, _ := json.Marshal(m)
				return out
			}}})
	}
	cases = append(cases,
		bad{name: "an integer beyond 2^53-1 in the payload gets 400 validation_failed (I-JSON)", status: 400, code: "validation_failed",
			// Put in after signing: canonicalization would round it.
			body: map[string]any{"eventType": "conformance.check", "payload": map[string]any{"n": 12345}},
			opt: sendOpt{after: func(raw []byte) []byte {
				return bytes.Replace(raw, []byte(`"n":12345`), []byte(`"n":9007199254740993`), 1)
			}}},
		bad{name: "a timestamp 10 minutes old gets 401 stale_timestamp", status: 401, code: "stale_timestamp",
			opt: sendOpt{edit: func(e envelope) { e["timestamp"] = time.Now().Add(-10 * time.Minute).UnixMilli() }}},
		bad{name: "a timestamp 10 minutes ahead gets 401 stale_timestamp", status: 401, code: "stale_timestamp",
			opt: sendOpt{edit: func(e envelope) { e["timestamp"] = time.Now().Add(10 * time.Minute).UnixMilli() }}},
		bad{name: "toInstanceId of another instance gets 401 wrong_recipient", status: 401, code: "wrong_recipient",
			opt: sendOpt{edit: func(e envelope) { e["toInstanceId"] = "another-" + newID() }}},
		bad{name: "an unknown connectionId gets 401 unknown_key", status: 401, code: "unknown_key",
			opt: sendOpt{edit: func(e envelope) { e["connectionId"] = newID() }}},
		bad{name: "an instanceId that is not the connection's peer gets 403 connection_not_active", status: 403, code: "connection_not_active",
			opt: sendOpt{edit: func(e envelope) { e["instanceId"] = "someone-" + newID() }}},
		bad{name: "a member changed after signing gets 401 invalid_signature", status: 401, code: "invalid_signature",
			opt: sendOpt{after: tamper}},
		bad{name: "a stale and badly signed envelope gets stale_timestamp (freshness is checked before the signature)", status: 401, code: "stale_timestamp",
			opt: sendOpt{edit: func(e envelope) { e["timestamp"] = time.Now().Add(-10 * time.Minute).UnixMilli() }, after: tamper}},
		bad{name: "a misaddressed and badly signed envelope gets wrong_recipient (before the signature)", status: 401, code: "wrong_recipient",
			opt: sendOpt{edit: func(e envelope) { e["toInstanceId"] = "another-" + newID() }, after: tamper}},
		bad{name: "an unknown connection with a bad signature gets unknown_key (the connection before the signature)", status: 401, code: "unknown_key",
			opt: sendOpt{edit: func(e envelope) { e["connectionId"] = newID() }, after: tamper}},
	)
	for _, c := range cases {
		r.check(ctx, "verification", c.name, func(ctx context.Context) error {
			if err := r.needConnection(); err != nil {
				return err
			}
			body := c.body
			if body == nil {
				body = event("conformance.check")
			}
			rep, id, err := r.send(ctx, "EVENT", body, c.opt)
			if err != nil {
				return err
			}
			refused = append(refused, id)
			return rep.expectError(c.status, c.code)
		})
	}
	r.check(ctx, "verification", "an envelope of another type posted to /incoming/event is refused with a PROTOCOL error", func(ctx context.Context) error {
		if err := r.needConnection(); err != nil {
			return err
		}
		rep, id, err := r.send(ctx, "QUERY", map[string]any{"query": "conformance.check"}, sendOpt{path: incomingPath["EVENT"]})
		if err != nil {
			return err
		}
		refused = append(refused, id)
		if _, err := rep.protocolError(); err != nil || rep.Status < 400 || rep.Status >= 500 {
			return fmt.Errorf("answered %s, want a 4xx PROTOCOL error", rep)
		}
		return nil
	})
	r.check(ctx, "verification", "refused envelopes are not stored (GET /events/messages/{id} is 404)", func(ctx context.Context) error {
		if len(refused) == 0 {
			return skip("no envelope was refused")
		}
		for _, id := range refused {
			rep, err := r.peer.user(ctx, r.opts.Token, http.MethodGet, "/events/messages/"+id, nil, nil)
			if err != nil {
				return err
			}
			if rep.Status != http.StatusNotFound {
				return fmt.Errorf("refused message %s: GET answered %s", id, rep)
			}
		}
		return nil
	})
	r.check(ctx, "verification", "an envelope carrying traceparent (signed like every member) is accepted (§9)", func(ctx context.Context) error {
		if err := r.needConnection(); err != nil {
			return err
		}
		rep, id, err := r.send(ctx, "EVENT", event("conformance.check"), sendOpt{edit: func(e envelope) {
			e["traceparent"] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
		}})
		if err != nil {
			return err
		}
		_, err = r.signedAnswer(rep, "EVENT_ACK", id)
		return err
	})
}

// ---- §3 duplicates

func (r *run) duplicatesSection(ctx context.Context) {
	for _, d := range []struct {
		envType string
		body    map[string]any
	}{
		{"EVENT", event("conformance.duplicate")},
		{"QUERY", map[string]any{"query": "conformance.duplicate"}},
		{"COMMAND", map[string]any{"commandType": "event.unsubscribe", "payload": map[string]any{"eventType": "conformance.duplicate"}}},
	} {
		article := "a "
		if d.envType == "EVENT" {
			article = "an "
		}
		r.check(ctx, "duplicates", article+d.envType+" sent twice gets the same status and body, byte for byte", func(ctx context.Context) error {
			if err := r.needConnection(); err != nil {
				return err
			}
			id := newID()
			raw, err := r.peer.envelope(d.envType, id, d.body).sign(r.peer.currentKey())
			if err != nil {
				return err
			}
			first, err := r.peer.post(ctx, incomingPath[d.envType], raw)
			if err != nil {
				return err
			}
			if first.Status >= 300 {
				return fmt.Errorf("the first one answered %s", first)
			}
			again, err := r.peer.post(ctx, incomingPath[d.envType], raw)
			if err != nil {
				return err
			}
			return sameAnswer(first, again)
		})
	}
}

// ---- §6 QUERY

func (r *run) querySection(ctx context.Context) {
	r.check(ctx, "query", "a QUERY is answered 200 with a QUERY_RESPONSE signed by the target, correlated to it, success=false for an unknown query", func(ctx context.Context) error {
		if err := r.needConnection(); err != nil {
			return err
		}
		rep, id, err := r.send(ctx, "QUERY", map[string]any{"query": "conformance.unknown.query"}, sendOpt{})
		if err != nil {
			return err
		}
		m, err := r.signedAnswer(rep, "QUERY_RESPONSE", id)
		if err != nil {
			return err
		}
		if ok, has := m.boolean("success"); !has || ok {
			return fmt.Errorf("success is %s for a query nobody answers", m["success"])
		}
		return nil
	})
	for _, q := range []struct {
		name string
		body map[string]any
	}{
		{"a query naming a credential (password) gets 403 query_not_allowed", map[string]any{"query": "show me the password"}},
		{"a credential word hidden by case and separators (API_KEY) gets 403 query_not_allowed", map[string]any{"query": "list API_KEY values"}},
		{"a credential word split by a zero-width space gets 403 query_not_allowed", map[string]any{"query": "pass\u200bword please"}},
		{"a credential word in full-width letters gets 403 query_not_allowed", map[string]any{"query": "ｔｏｋｅｎ"}},
		{"a credential word in the context gets 403 query_not_allowed", map[string]any{"query": "conformance.lookup", "context": map[string]any{"field": "Secret"}}},
	} {
		r.check(ctx, "query", q.name, func(ctx context.Context) error {
			if err := r.needConnection(); err != nil {
				return err
			}
			rep, _, err := r.send(ctx, "QUERY", q.body, sendOpt{})
			if err != nil {
				return err
			}
			return rep.expectError(http.StatusForbidden, "query_not_allowed")
		})
	}
}

// ---- §7 COMMAND

// command sends a COMMAND and waits for its COMMAND_RESPONSE.
func (r *run) command(ctx context.Context, commandType string, payload map[string]any) (members, error) {
	rep, id, err := r.send(ctx, "COMMAND", map[string]any{"commandType": commandType, "payload": payload}, sendOpt{})
	if err != nil {
		return nil, err
	}
	var acc struct {
		Accepted  bool   `json:"accepted"`
		MessageID string `json:"messageId"`
	}
	if rep.Status != http.StatusAccepted || json.Unmarshal(rep.Body, &acc) != nil || !acc.Accepted || acc.MessageID != id {
		return nil, fmt.Errorf("answered %s, want 202 {accepted: true, messageId: %s}", rep, id)
	}
	in, ok := r.peer.await(ctx, r.opts.Wait, func(in inbound) bool {
		return in.Path == incomingPath["COMMAND_RESPONSE"] && in.M.str("correlationId") == id
	})
	if !ok {
		return nil, fmt.Errorf("no COMMAND_RESPONSE to %s reached this peer within %s", id, r.opts.Wait)
	}
	if in.Err != nil {
		return in.M, fmt.Errorf("the COMMAND_RESPONSE does not verify: %v", in.Err)
	}
	return in.M, nil
}

func (r *run) commandSection(ctx context.Context) {
	r.check(ctx, "command", "a COMMAND (event.subscribe) gets 202 and an asynchronous, signed COMMAND_RESPONSE with success=true", func(ctx context.Context) error {
		if err := r.needConnection(); err != nil {
			return err
		}
		if !slices.Contains(r.peer.targetDoc.Capabilities.CommandTypes, "event.subscribe") {
			return fmt.Errorf("capabilities.commandTypes lacks event.subscribe, which §8 needs")
		}
		m, err := r.command(ctx, "event.subscribe", map[string]any{"eventType": "conformance.command"})
		if err != nil {
			return err
		}
		if ok, _ := m.boolean("success"); !ok {
			return fmt.Errorf("success=false: %s", m["error"])
		}
		return nil
	})
	for _, c := range []struct{ name, commandType string }{
		{"a credential.* command gets 403 command_not_allowed", "credential.read"},
		{"a credentials.* command gets 403 command_not_allowed", "credentials.rotate"},
		{"a command type not in capabilities.commandTypes gets 403 command_not_allowed", "conformance.unlisted"},
	} {
		r.check(ctx, "command", c.name, func(ctx context.Context) error {
			if err := r.needConnection(); err != nil {
				return err
			}
			if slices.Contains(r.peer.targetDoc.Capabilities.CommandTypes, c.commandType) {
				return skip("the target lists %s", c.commandType)
			}
			rep, _, err := r.send(ctx, "COMMAND", map[string]any{"commandType": c.commandType, "payload": map[string]any{}}, sendOpt{})
			if err != nil {
				return err
			}
			return rep.expectError(http.StatusForbidden, "command_not_allowed")
		})
	}
}

// ---- §8 EVENT, both ways, and the subscription commands

func (r *run) eventsSection(ctx context.Context) {
	p := r.peer
	subscribed := r.check(ctx, "events", "event.subscribe conformance.* is answered with success", func(ctx context.Context) error {
		if err := r.needConnection(); err != nil {
			return err
		}
		m, err := r.command(ctx, "event.subscribe", map[string]any{"eventType": "conformance.*"})
		if err != nil {
			return err
		}
		if ok, _ := m.boolean("success"); !ok {
			return fmt.Errorf("success=false: %s", m["error"])
		}
		return nil
	})
	var eventID string
	published := r.check(ctx, "events", "the target's user publishes conformance.ping: 202 {eventId, deliveries ≥ 1}", func(ctx context.Context) error {
		if !subscribed {
			return skip("needs the subscription")
		}
		var err error
		var n int
		eventID, n, err = r.publish(ctx, "conformance.ping")
		if err == nil && n < 1 {
			err = fmt.Errorf("deliveries %d: this peer subscribed", n)
		}
		return err
	})
	var delivery inbound
	delivered := r.check(ctx, "events", "the target delivers the EVENT here, signed, addressed to this peer, with its eventType and payload", func(ctx context.Context) error {
		if !published {
			return skip("needs the publish")
		}
		in, ok := p.await(ctx, r.opts.Wait, func(in inbound) bool {
			return in.Path == incomingPath["EVENT"] && in.M.str("eventType") == "conformance.ping"
		})
		if !ok {
			return fmt.Errorf("no EVENT reached this peer within %s", r.opts.Wait)
		}
		delivery = in
		if in.Err != nil {
			return in.Err
		}
		var payload map[string]any
		if json.Unmarshal(in.M["payload"], &payload) != nil || payload["n"] != eventID {
			return fmt.Errorf("payload %s, want the published one", in.M["payload"])
		}
		return nil
	})
	r.check(ctx, "events", "this peer's signed EVENT_ACK makes the delivery DELIVERED (GET /events/messages/{id})", func(ctx context.Context) error {
		if !delivered {
			return skip("needs the delivery")
		}
		return r.waitMessageStatus(ctx, delivery.M.str("messageId"), "DELIVERED")
	})
	r.check(ctx, "events", "GET /events/messages/{id}/attempts lists the delivery's attempts (§9)", func(ctx context.Context) error {
		if !delivered {
			return skip("needs the delivery")
		}
		rep, err := p.user(ctx, r.opts.Token, http.MethodGet, "/events/messages/"+delivery.M.str("messageId")+"/attempts", nil, nil)
		if err != nil {
			return err
		}
		if rep.Status == http.StatusNotFound {
			return skip("the target does not serve attempts (404)")
		}
		var page struct {
			Items []struct {
				Attempt int    `json:"attempt"`
				Outcome string `json:"outcome"`
			} `json:"items"`
		}
		if rep.Status != http.StatusOK || json.Unmarshal(rep.Body, &page) != nil || len(page.Items) == 0 {
			return fmt.Errorf("answered %s", rep)
		}
		if last := page.Items[len(page.Items)-1]; last.Outcome != "delivered" {
			return fmt.Errorf("the last attempt's outcome is %q", last.Outcome)
		}
		return nil
	})
	r.check(ctx, "events", "an EVENT of a type the target never subscribed to gets 200 and a signed EVENT_ACK with received=false", func(ctx context.Context) error {
		if err := r.needConnection(); err != nil {
			return err
		}
		rep, id, err := r.send(ctx, "EVENT", event("conformance.unsubscribed"), sendOpt{})
		if err != nil {
			return err
		}
		m, err := r.signedAnswer(rep, "EVENT_ACK", id)
		if err != nil {
			return err
		}
		if got, has := m.boolean("received"); !has || got {
			return fmt.Errorf("received is %s", m["received"])
		}
		return nil
	})
	targetSubscribed := r.check(ctx, "events", "the target's user subscribes here: its signed event.subscribe COMMAND reaches this peer and this peer's COMMAND_RESPONSE is accepted", func(ctx context.Context) error {
		if err := r.needConnection(); err != nil {
			return err
		}
		rep, err := p.user(ctx, r.opts.Token, http.MethodPost, "/events/subscribe", nil,
			map[string]any{"connectionId": p.connID, "eventType": "conformance.*"})
		if err != nil {
			return err
		}
		if rep.Status != http.StatusCreated {
			return fmt.Errorf("POST /events/subscribe answered %s", rep)
		}
		in, ok := p.await(ctx, r.opts.Wait, func(in inbound) bool {
			return in.Path == incomingPath["COMMAND"] && in.M.str("commandType") == "event.subscribe"
		})
		if !ok {
			return fmt.Errorf("no event.subscribe COMMAND reached this peer within %s", r.opts.Wait)
		}
		if in.Err != nil {
			return in.Err
		}
		// This peer answered 202 and sends its COMMAND_RESPONSE: the target's
		// command completes.
		return r.waitCommandStatus(ctx, in.M.str("messageId"), "COMPLETED")
	})
	r.check(ctx, "events", "an EVENT of a type the target subscribed to gets a signed EVENT_ACK with received=true", func(ctx context.Context) error {
		if !targetSubscribed {
			return skip("needs the target's subscription")
		}
		rep, id, err := r.send(ctx, "EVENT", event("conformance.ping"), sendOpt{})
		if err != nil {
			return err
		}
		if rep.Status == http.StatusAccepted {
			in, ok := p.await(ctx, r.opts.Wait, func(in inbound) bool {
				return in.Path == incomingPath["EVENT_ACK"] && in.M.str("correlationId") == id
			})
			if !ok || in.Err != nil {
				return fmt.Errorf("answered 202 but no valid EVENT_ACK followed")
			}
			if got, _ := in.M.boolean("received"); !got {
				return fmt.Errorf("received=false")
			}
			return nil
		}
		m, err := r.signedAnswer(rep, "EVENT_ACK", id)
		if err != nil {
			return err
		}
		if got, _ := m.boolean("received"); !got {
			return fmt.Errorf("received=false for a subscribed type")
		}
		return nil
	})
	r.check(ctx, "events", "event.unsubscribe conformance.* succeeds, and a publish then goes to no one (deliveries 0)", func(ctx context.Context) error {
		if !subscribed {
			return skip("needs the subscription")
		}
		// The duplicates and command sections subscribed this peer to other types.
		for _, t := range []string{"conformance.*", "conformance.command", "conformance.duplicate"} {
			m, err := r.command(ctx, "event.unsubscribe", map[string]any{"eventType": t})
			if err != nil {
				return err
			}
			if ok, _ := m.boolean("success"); !ok {
				return fmt.Errorf("unsubscribe %s: success=false: %s", t, m["error"])
			}
		}
		_, n, err := r.publish(ctx, "conformance.ping")
		if err == nil && n != 0 {
			err = fmt.Errorf("deliveries %d after unsubscribing", n)
		}
		return err
	})
	r.check(ctx, "events", "event.sync makes the target's set of this peer's subscriptions exactly the list sent", func(ctx context.Context) error {
		if err := r.needConnection(); err != nil {
			return err
		}
		if !slices.Contains(p.targetDoc.Capabilities.CommandTypes, "event.sync") {
			return skip("the target does not list event.sync in capabilities.commandTypes")
		}
		m, err := r.command(ctx, "event.sync", map[string]any{"eventTypes": []string{"conformance.sync.*"}})
		if err != nil {
			return err
		}
		if ok, _ := m.boolean("success"); !ok {
			return fmt.Errorf("success=false: %s", m["error"])
		}
		if _, n, err := r.publish(ctx, "conformance.sync.ping"); err != nil || n != 1 {
			return fmt.Errorf("a matching publish went to %d peers (%v), want 1", n, err)
		}
		if _, n, err := r.publish(ctx, "conformance.other"); err != nil || n != 0 {
			return fmt.Errorf("a publish outside the synced list went to %d peers (%v), want 0", n, err)
		}
		return nil
	})
}

// publish publishes an event through the target's user API; the payload
// carries a nonce the delivery is matched by.
func (r *run) publish(ctx context.Context, eventType string) (string, int, error) {
	nonce := newID()
	rep, err := r.peer.user(ctx, r.opts.Token, http.MethodPost, "/events/publish", nil,
		map[string]any{"eventType": eventType, "payload": map[string]any{"n": nonce}})
	if err != nil {
		return "", 0, err
	}
	var out struct {
		EventID    string `json:"eventId"`
		Deliveries *int   `json:"deliveries"`
	}
	if rep.Status != http.StatusAccepted || json.Unmarshal(rep.Body, &out) != nil || out.EventID == "" || out.Deliveries == nil {
		return "", 0, fmt.Errorf("POST /events/publish answered %s", rep)
	}
	return nonce, *out.Deliveries, nil
}

func (r *run) waitMessageStatus(ctx context.Context, id, want string) error {
	return r.waitStatus(ctx, "/events/messages/"+id, want)
}

func (r *run) waitCommandStatus(ctx context.Context, id, want string) error {
	return r.waitStatus(ctx, "/commands/"+id, want)
}

// waitStatus polls a message through the user API until it has status want.
func (r *run) waitStatus(ctx context.Context, path, want string) error {
	deadline := time.Now().Add(r.opts.Wait)
	last := ""
	for {
		rep, err := r.peer.user(ctx, r.opts.Token, http.MethodGet, path, nil, nil)
		if err != nil {
			return err
		}
		var m struct {
			Status string `json:"status"`
		}
		if rep.Status == http.StatusOK && json.Unmarshal(rep.Body, &m) == nil {
			last = m.Status
			if m.Status == want {
				return nil
			}
		} else {
			last = rep.String()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("GET %s: %s after %s, want %s", path, last, r.opts.Wait, want)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// ---- §5 suspension and DISCONNECT

func (r *run) disconnectSection(ctx context.Context) {
	p := r.peer
	suspended := r.check(ctx, "disconnect", "the target's user suspends the connection: SUSPENDED", func(ctx context.Context) error {
		if err := r.needConnection(); err != nil {
			return err
		}
		rep, err := p.user(ctx, r.opts.Token, http.MethodPost, "/connections/"+p.connID+"/suspend", nil, nil)
		if err != nil {
			return err
		}
		if rep.Status != http.StatusOK {
			return fmt.Errorf("answered %s", rep)
		}
		return r.connectionStatus(ctx, "SUSPENDED")
	})
	r.check(ctx, "disconnect", "an EVENT on a SUSPENDED connection gets 403 connection_not_active", func(ctx context.Context) error {
		if !suspended {
			return skip("needs the suspension")
		}
		rep, _, err := r.send(ctx, "EVENT", event("conformance.ping"), sendOpt{})
		if err != nil {
			return err
		}
		return rep.expectError(http.StatusForbidden, "connection_not_active")
	})
	var first reply
	var raw []byte
	disconnected := r.check(ctx, "disconnect", "DISCONNECT (here while SUSPENDED) is answered 200 and the connection is DISCONNECTED", func(ctx context.Context) error {
		if err := r.needConnection(); err != nil {
			return err
		}
		var err error
		raw, err = p.envelope("DISCONNECT", newID(), map[string]any{"reason": "conformance run finished"}).sign(p.currentKey())
		if err != nil {
			return err
		}
		if first, err = p.post(ctx, incomingPath["DISCONNECT"], raw); err != nil {
			return err
		}
		if first.Status != http.StatusOK {
			return fmt.Errorf("answered %s", first)
		}
		return r.connectionStatus(ctx, "DISCONNECTED")
	})
	r.check(ctx, "disconnect", "the same DISCONNECT again gets the first answer, byte for byte", func(ctx context.Context) error {
		if !disconnected {
			return skip("needs the DISCONNECT")
		}
		again, err := p.post(ctx, incomingPath["DISCONNECT"], raw)
		if err != nil {
			return err
		}
		return sameAnswer(first, again)
	})
	r.check(ctx, "disconnect", "an EVENT after DISCONNECT gets 403 connection_not_active", func(ctx context.Context) error {
		if !disconnected {
			return skip("needs the DISCONNECT")
		}
		rep, _, err := r.send(ctx, "EVENT", event("conformance.ping"), sendOpt{})
		if err != nil {
			return err
		}
		return rep.expectError(http.StatusForbidden, "connection_not_active")
	})
}
