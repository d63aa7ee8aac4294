package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/messaging"
	"github.com/fedgate/fedgate/shared/platform"
	"github.com/fedgate/fedgate/shared/store"
)

// SubscribeInput is a workspace's (un)subscription to a peer's event type.
type SubscribeInput struct {
	ConnectionID string          `json:"connectionId"`
	EventType    string          `json:"eventType"`
	Metadata     json.RawMessage `json:"metadata"`
}

func (in SubscribeInput) check(withMetadata bool) error {
	var v federation.Checks
	v.Required("connectionId", in.ConnectionID)
	v.Check(federation.ValidEventPattern(in.EventType), "eventType",
		"must be dot-separated lower-case words (task.created), optionally ending in .* (project.*)")
	if withMetadata {
		v.Object("metadata", in.Metadata)
	}
	return v.Err()
}

// Subscribe records the workspace's subscription to a peer's event type and
// tells the publisher with an event.subscribe COMMAND, so the publisher holds
// the list its fan-out reads. Subscribing again reactivates.
func (s *Service) Subscribe(ctx context.Context, ws string, in SubscribeInput) (*federation.Subscription, error) {
	return s.change(ctx, ws, in, true)
}

// Unsubscribe deactivates a subscription and tells the publisher with an
// event.unsubscribe COMMAND.
func (s *Service) Unsubscribe(ctx context.Context, ws string, in SubscribeInput) (*federation.Subscription, error) {
	return s.change(ctx, ws, in, false)
}

func (s *Service) change(ctx context.Context, ws string, in SubscribeInput, active bool) (*federation.Subscription, error) {
	if err := in.check(active); err != nil {
		return nil, err
	}
	conn, err := s.Connections.GetActive(ctx, ws, in.ConnectionID)
	if err != nil {
		return nil, err
	}
	if !active {
		if _, err := s.Subscriptions.Get(ctx, ws, conn.ID, federation.Outbound, in.EventType); err != nil {
			return nil, err
		}
	}
	var meta []byte
	if len(in.Metadata) > 0 && string(in.Metadata) != "null" {
		meta = in.Metadata
	}
	return s.tell(ctx, conn, in.EventType, active, meta)
}

// tell stores the OUTBOUND subscription and sends its command to the publisher.
func (s *Service) tell(ctx context.Context, conn *federation.Connection, eventType string, active bool, meta []byte) (*federation.Subscription, error) {
	sub, err := s.Subscriptions.Set(ctx, store.SubscriptionChange{
		Workspace: conn.WorkspaceID, ConnectionID: conn.ID, Direction: federation.Outbound, EventType: eventType,
		Active: active, Metadata: meta, Limit: s.SubscriptionLimit,
	})
	if errors.Is(err, store.ErrLimit) {
		return nil, federation.Errorf(federation.CodeLimitExceeded, "a connection holds at most %d active subscriptions in each direction", s.SubscriptionLimit)
	}
	if err != nil {
		return nil, err
	}
	commandType := "event.unsubscribe"
	if active {
		commandType = "event.subscribe"
	}
	payload, _ := json.Marshal(map[string]string{"eventType": eventType})
	if _, err := s.Commands.SendCommand(ctx, conn, commandType, payload); err != nil {
		return nil, err
	}
	s.Log.Info(commandType, "connectionId", conn.ID, "eventType", eventType)
	return sub, nil
}

// Follow subscribes the workspace to eventType on an ACTIVE connection
// unless it already is (the agents capability follows agent.status.changed).
func (s *Service) Follow(ctx context.Context, conn *federation.Connection, eventType string) error {
	sub, err := s.Subscriptions.Get(ctx, conn.WorkspaceID, conn.ID, federation.Outbound, eventType)
	if err == nil && sub.IsActive {
		return nil
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	_, err = s.tell(ctx, conn, eventType, true, nil)
	return err
}

// ListSubscriptions lists the subscriptions this workspace made (OUTBOUND) and
// those peers made to it (INBOUND), of one connection if connID is set.
func (s *Service) ListSubscriptions(ctx context.Context, ws, connID string) ([]federation.Subscription, error) {
	return s.Subscriptions.List(ctx, ws, connID)
}

func checkSubscriptionPayload(payload json.RawMessage) error {
	var p struct {
		EventType string `json:"eventType"`
	}
	if json.Unmarshal(payload, &p) != nil || !federation.ValidEventPattern(p.EventType) {
		return federation.Invalidf("payload.eventType must be an event type or a pattern ending in .*")
	}
	return nil
}

// Register adds the events capability's built-ins to messaging: the
// event.subscribe and event.unsubscribe commands (the publisher keeps the
// list its fan-out reads) and the events.subscriptions query (a peer checks
// that its subscriptions arrived).
func (s *Service) Register(m *messaging.Service) {
	for commandType, active := range map[string]bool{"event.subscribe": true, "event.unsubscribe": false} {
		m.RegisterCommand(commandType, messaging.Command{
			Check: checkSubscriptionPayload,
			Run: func(ctx context.Context, req platform.Request) (federation.Response, error) {
				var p struct {
					EventType string `json:"eventType"`
				}
				if err := json.Unmarshal(req.Payload, &p); err != nil || !federation.ValidEventPattern(p.EventType) {
					return platform.Failure(fmt.Sprintf("%s needs a valid eventType", commandType)), nil
				}
				sub, err := s.Subscriptions.Set(ctx, store.SubscriptionChange{
					Workspace: req.WorkspaceID, ConnectionID: req.ConnectionID, Direction: federation.Inbound, EventType: p.EventType,
					Active: active, Limit: s.SubscriptionLimit,
				})
				if errors.Is(err, store.ErrLimit) {
					return platform.Failure(fmt.Sprintf("limit_exceeded: at most %d active subscriptions per connection", s.SubscriptionLimit)), nil
				}
				if err != nil {
					return federation.Response{}, &platform.RetryError{Err: err}
				}
				return platform.Success(map[string]any{"subscriptionId": sub.ID, "eventType": sub.EventType, "isActive": sub.IsActive})
			},
		})
	}
	m.RegisterQuery("events.subscriptions", func(ctx context.Context, req platform.Request) (federation.Response, error) {
		subs, err := s.Subscriptions.List(ctx, req.WorkspaceID, req.ConnectionID)
		if err != nil {
			return federation.Response{}, err
		}
		out := []map[string]any{}
		for _, sub := range subs {
			if sub.Direction == federation.Inbound {
				out = append(out, map[string]any{"eventType": sub.EventType, "isActive": sub.IsActive, "updatedAt": sub.UpdatedAt})
			}
		}
		return platform.Success(map[string]any{"subscriptions": out})
	})
}
