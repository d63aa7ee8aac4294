package conformance

// PROTOCOL.md §5, identity and connections: sections identity and handshake,
// which every run starts with, and disconnect (suspension and DISCONNECT),
// which ends it.

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
	r.check(ctx, "handshake", "the same CONNECT again gets the first outcome (a CONNECT_RESPONSE signed afresh)", func(ctx context.Context) error {
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
	r.check(ctx, "disconnect", "an EVENT on a SUSPENDED connection gets 403 connection_not_active (within the 5 s a receiver may cache it)", func(ctx context.Context) error {
		if !suspended {
			return skip("needs the suspension")
		}
		return withinCache(ctx, func() error {
			rep, _, err := r.send(ctx, "EVENT", event("conformance.ping"), sendOpt{})
			if err != nil {
				return err
			}
			return rep.expectError(http.StatusForbidden, "connection_not_active")
		})
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
	r.check(ctx, "disconnect", "the same DISCONNECT again gets the first answer", func(ctx context.Context) error {
		if !disconnected {
			return skip("needs the DISCONNECT")
		}
		again, err := p.post(ctx, incomingPath["DISCONNECT"], raw)
		if err != nil {
			return err
		}
		return sameAnswer(first, again)
	})
	r.check(ctx, "disconnect", "an EVENT after DISCONNECT gets 410 connection_ended (within the 5 s a receiver may cache it)", func(ctx context.Context) error {
		if !disconnected {
			return skip("needs the DISCONNECT")
		}
		return withinCache(ctx, func() error {
			rep, _, err := r.send(ctx, "EVENT", event("conformance.ping"), sendOpt{})
			if err != nil {
				return err
			}
			return rep.expectError(http.StatusGone, "connection_ended")
		})
	})
}

// cacheBound is how long a receiver may answer from its cached record of a
// connection (PROTOCOL.md §3, "Caching"), with a second to spare.
const cacheBound = 6 * time.Second

// withinCache retries try until it passes or cacheBound has passed: a change
// of a connection takes effect for incoming envelopes within 5 s.
func withinCache(ctx context.Context, try func() error) error {
	deadline := time.Now().Add(cacheBound)
	for {
		err := try()
		if err == nil || !time.Now().Before(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
