package app

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/fedgate/fedgate/shared/backend"
	"github.com/fedgate/fedgate/shared/federation"
)

// registerBuiltins adds the queries and commands fedgate answers itself.
func registerBuiltins(a *App) {
	a.Queries.Register("federation.instance", func(ctx context.Context, _ backend.Request) (federation.Response, error) {
		doc, err := a.Identity.Document(ctx)
		if err != nil {
			return federation.Response{}, err
		}
		return backend.Success(doc)
	})
	// The subscriptions the asking peer holds here, so it can check that
	// its event.subscribe commands arrived.
	a.Queries.Register("events.subscriptions", func(ctx context.Context, req backend.Request) (federation.Response, error) {
		subs, err := a.Subs.List(ctx, req.WorkspaceID, req.ConnectionID)
		if err != nil {
			return federation.Response{}, err
		}
		var out []map[string]any
		for _, s := range subs {
			if s.Direction == federation.Inbound {
				out = append(out, map[string]any{"eventType": s.EventType, "isActive": s.IsActive, "updatedAt": s.UpdatedAt})
			}
		}
		if out == nil {
			out = []map[string]any{}
		}
		return backend.Success(map[string]any{"subscriptions": out})
	})
	// A peer subscribes to or unsubscribes from this workspace's events: the
	// publisher keeps the list its fan-out reads.
	for commandType, active := range map[string]bool{"event.subscribe": true, "event.unsubscribe": false} {
		a.Commands.Register(commandType, func(ctx context.Context, req backend.Request) (federation.Response, error) {
			var p struct {
				EventType string `json:"eventType"`
			}
			if err := json.Unmarshal(req.Payload, &p); err != nil || !federation.ValidEventPattern(p.EventType) {
				return backend.Failure(fmt.Sprintf("%s needs a valid eventType", commandType)), nil
			}
			sub, err := a.Subs.Set(ctx, req.WorkspaceID, req.ConnectionID, federation.Inbound, p.EventType, active, nil)
			if err != nil {
				return federation.Response{}, &backend.RetryError{Err: err}
			}
			return backend.Success(map[string]any{"subscriptionId": sub.ID, "eventType": sub.EventType, "isActive": sub.IsActive})
		})
	}
}
