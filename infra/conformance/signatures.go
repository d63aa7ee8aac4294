package conformance

// PROTOCOL.md §3, keys and signatures: sections keys (this peer rotates its
// key mid-run), verification (every failure, in §3's order) and duplicates
// (answered byte for byte).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/fedgate/fedgate/shared/signing"
)

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
		r.check(ctx, "duplicates", article+d.envType+" sent twice gets the same outcome, a signed answer signed afresh", func(ctx context.Context) error {
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

// sameAnswer checks that a duplicate got the first outcome (PROTOCOL.md §3
// step 5): the same status and members; an unsigned answer byte for byte, a
// signed one signed afresh (its timestamp, key and signature may differ, and
// its timestamp is fresh, so a retry hours later still gets an answer it can
// verify).
func sameAnswer(first, again reply) error {
	if first.Status != again.Status {
		return fmt.Errorf("first answer %s, the duplicate got %s", first, again)
	}
	f, ferr := parseMembers(first.Body)
	a, aerr := parseMembers(again.Body)
	if ferr != nil || aerr != nil || f["signature"] == nil {
		if !bytes.Equal(first.Body, again.Body) {
			return fmt.Errorf("first answer %s, the duplicate got %s", first, again)
		}
		return nil
	}
	afresh := map[string]bool{"timestamp": true, "signature": true, "keyId": true, "traceparent": true}
	for k := range f {
		if !afresh[k] && !bytes.Equal(f[k], a[k]) {
			return fmt.Errorf("the duplicate's answer differs in %s: %s, first %s", k, a[k], f[k])
		}
	}
	for k := range a {
		if _, ok := f[k]; !ok && !afresh[k] {
			return fmt.Errorf("the duplicate's answer has %s, the first had not", k)
		}
	}
	if ts, ok := a.int64("timestamp"); !ok || time.Since(time.UnixMilli(ts)).Abs() > maxSkew {
		return fmt.Errorf("the duplicate's answer is not fresh: timestamp %s", a["timestamp"])
	}
	return nil
}
