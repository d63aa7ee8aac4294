package conformance

// PROTOCOL.md §7, COMMAND: section command.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
)

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
