package conformance

// PROTOCOL.md §8, EVENT both ways and the subscription commands: section
// events.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"
)

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
