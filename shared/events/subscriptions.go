package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

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
	conn, err := s.connections.GetActive(ctx, ws, in.ConnectionID)
	if err != nil {
		return nil, err
	}
	if !active {
		if _, err := s.subscriptions.Get(ctx, ws, conn.ID, federation.Outbound, in.EventType); err != nil {
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
	sub, err := s.subscriptions.Set(ctx, store.SubscriptionChange{
		Workspace: conn.WorkspaceID, ConnectionID: conn.ID, Direction: federation.Outbound, EventType: eventType,
		Active: active, Metadata: meta, Limit: s.subscriptionLimit,
	})
	if errors.Is(err, store.ErrLimit) {
		return nil, federation.Errorf(federation.CodeLimitExceeded, "a connection holds at most %d active subscriptions in each direction", s.subscriptionLimit)
	}
	if err != nil {
		return nil, err
	}
	commandType := federation.CommandEventUnsubscribe
	if active {
		commandType = federation.CommandEventSubscribe
	}
	payload, _ := json.Marshal(federation.SubscribePayload{EventType: eventType})
	if _, err := s.commands.SendUntilAnswered(ctx, conn, commandType, payload); err != nil {
		return nil, err
	}
	if err := s.subscriptions.ScheduleSync(ctx, conn.WorkspaceID, conn.ID, s.now().Add(s.syncEvery)); err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, commandType, "connectionId", conn.ID, "eventType", eventType)
	return sub, nil
}

// Sync sends the publisher on conn the complete list of this workspace's
// active subscriptions there (event.sync): the publisher makes its set equal
// to it, so the two sides converge whatever was lost in between. It runs when
// a connection becomes ACTIVE again and at least every SyncEvery.
func (s *Service) Sync(ctx context.Context, conn *federation.Connection) error {
	subs, err := s.subscriptions.Active(ctx, conn.WorkspaceID, conn.ID, federation.Outbound)
	if err != nil {
		return err
	}
	patterns := make([]string, len(subs))
	for i, sub := range subs {
		patterns[i] = sub.EventType
	}
	payload, _ := json.Marshal(federation.SyncPayload{EventTypes: patterns})
	if _, err := s.commands.SendUntilAnswered(ctx, conn, federation.CommandEventSync, payload); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "event.sync", "connectionId", conn.ID, "subscriptions", len(patterns))
	return s.subscriptions.ScheduleSync(ctx, conn.WorkspaceID, conn.ID, s.now().Add(s.syncEvery))
}

// SyncDue sends event.sync on every connection whose sync is due (the
// sweeper runs it every minute). A connection not ACTIVE now is tried again
// later while it is live.
func (s *Service) SyncDue(ctx context.Context) error {
	due, err := s.subscriptions.DueSyncs(ctx, s.now(), 50)
	if err != nil {
		return err
	}
	for _, d := range due {
		conn, err := s.connections.Get(ctx, d.Workspace, d.ConnectionID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			err = s.subscriptions.ScheduleSync(ctx, d.Workspace, d.ConnectionID, s.now().Add(100*365*24*time.Hour))
		case err != nil:
		case conn.Status == federation.StatusActive:
			err = s.Sync(ctx, conn)
		case conn.Status.IsLive():
			err = s.subscriptions.ScheduleSync(ctx, d.Workspace, d.ConnectionID, s.now().Add(time.Hour))
		default: // the connection ended: never again
			err = s.subscriptions.ScheduleSync(ctx, d.Workspace, d.ConnectionID, s.now().Add(100*365*24*time.Hour))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// confirmed records when the publisher confirmed our subscriptions: the
// answer to our event.subscribe, event.unsubscribe or event.sync.
func (s *Service) confirmed(ctx context.Context, rec *store.MessageRecord) {
	if rec.Response == nil || !rec.Response.Success {
		return
	}
	var types []string
	if rec.CommandType == federation.CommandEventSync {
		p, _ := federation.ParseSync(rec.Payload) // our own, sent valid
		types = p.EventTypes
	} else if p, err := federation.ParseSubscribe(rec.Payload); err == nil {
		types = []string{p.EventType}
	}
	now := s.now()
	for _, t := range types {
		if err := s.subscriptions.MarkSynced(ctx, rec.WorkspaceID, rec.ConnectionID, federation.Outbound, t, now); err != nil {
			s.log.WarnContext(ctx, "syncedAt not recorded", "connectionId", rec.ConnectionID, "eventType", t, "error", err.Error())
		}
	}
}

// Follow subscribes the workspace to eventType on an ACTIVE connection
// unless it already is (the agents capability follows agent.status.changed).
func (s *Service) Follow(ctx context.Context, conn *federation.Connection, eventType string) error {
	sub, err := s.subscriptions.Get(ctx, conn.WorkspaceID, conn.ID, federation.Outbound, eventType)
	if err == nil && sub.IsActive {
		return nil
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	_, err = s.tell(ctx, conn, eventType, true, nil)
	return err
}

// ListSubscriptions lists the subscriptions this workspace made (OUTBOUND)
// and those peers made to it (INBOUND), newest first, of one connection if
// connID is set.
func (s *Service) ListSubscriptions(ctx context.Context, ws, connID string, limit int32, cursor string) (store.Page[federation.Subscription], error) {
	return s.subscriptions.Page(ctx, ws, connID, limit, cursor)
}

// Register adds the events capability's built-ins to messaging: the
// event.subscribe, event.unsubscribe and event.sync commands (the publisher
// keeps the list its fan-out reads; the subscriber records the publisher's
// confirmations) and the events.subscriptions query (a peer checks that its
// subscriptions arrived).
func (s *Service) Register(m *messaging.Service) {
	messaging.RegisterCommand(m, messaging.Builtin[federation.SyncPayload]{
		Name: federation.CommandEventSync, Parse: federation.ParseSync, Run: s.syncRun, Answered: s.confirmed,
	})
	for name, active := range map[string]bool{federation.CommandEventSubscribe: true, federation.CommandEventUnsubscribe: false} {
		messaging.RegisterCommand(m, messaging.Builtin[federation.SubscribePayload]{
			Name: name, Parse: federation.ParseSubscribe, Answered: s.confirmed,
			Run: func(ctx context.Context, req platform.Request, p federation.SubscribePayload) (federation.Response, error) {
				return s.subscribeRun(ctx, req, p, active)
			},
		})
	}
	m.RegisterQuery(federation.QuerySubscriptions, s.subscriptionsQuery)
}

// subscribeRun stores a peer's subscription here (event.subscribe) or
// deactivates it (event.unsubscribe).
func (s *Service) subscribeRun(ctx context.Context, req platform.Request, p federation.SubscribePayload, active bool) (federation.Response, error) {
	sub, err := s.subscriptions.Set(ctx, store.SubscriptionChange{
		Workspace: req.WorkspaceID, ConnectionID: req.ConnectionID, Direction: federation.Inbound, EventType: p.EventType,
		Active: active, Limit: s.subscriptionLimit,
	})
	if errors.Is(err, store.ErrLimit) {
		return platform.Failure(fmt.Sprintf("limit_exceeded: at most %d active subscriptions per connection", s.subscriptionLimit)), nil
	}
	if err != nil {
		return federation.Response{}, &platform.RetryError{Err: err}
	}
	return platform.Success(map[string]any{"subscriptionId": sub.ID, "eventType": sub.EventType, "isActive": sub.IsActive})
}

// subscriptionsQuery answers events.subscriptions: what the asking peer
// subscribed to here.
func (s *Service) subscriptionsQuery(ctx context.Context, req platform.Request) (federation.Response, error) {
	subs, err := s.subscriptions.List(ctx, req.WorkspaceID, req.ConnectionID)
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
}

// syncRun makes the peer's subscriptions here exactly its list (event.sync).
func (s *Service) syncRun(ctx context.Context, req platform.Request, p federation.SyncPayload) (federation.Response, error) {
	if len(p.EventTypes) > s.subscriptionLimit {
		return platform.Failure(fmt.Sprintf("limit_exceeded: at most %d active subscriptions per connection", s.subscriptionLimit)), nil
	}
	subs, err := s.subscriptions.List(ctx, req.WorkspaceID, req.ConnectionID)
	if err != nil {
		return federation.Response{}, &platform.RetryError{Err: err}
	}
	want := map[string]bool{}
	for _, t := range p.EventTypes {
		want[t] = true
	}
	set := func(t string, active bool) error {
		_, err := s.subscriptions.Set(ctx, store.SubscriptionChange{
			Workspace: req.WorkspaceID, ConnectionID: req.ConnectionID, Direction: federation.Inbound, EventType: t,
			Active: active, Limit: s.subscriptionLimit,
		})
		return err
	}
	// Deactivate first, so the bound leaves room for what is added.
	for _, sub := range subs {
		if sub.Direction == federation.Inbound && sub.IsActive && !want[sub.EventType] {
			if err := set(sub.EventType, false); err != nil {
				return federation.Response{}, &platform.RetryError{Err: err}
			}
		}
	}
	for t := range want {
		if err := set(t, true); err != nil {
			return federation.Response{}, &platform.RetryError{Err: err}
		}
	}
	// The peer takes our deliveries again (it resumed its side): what was
	// held for it goes at once (PROTOCOL.md §1, §8 catch-up on both sides).
	s.release(ctx, req.WorkspaceID, req.ConnectionID)
	return platform.Success(map[string]any{"eventTypes": p.EventTypes})
}

// release sends at once what was held for a connection (best effort: what
// stays held is tried on its hold schedule anyway).
func (s *Service) release(ctx context.Context, ws, connID string) {
	if s.held == nil {
		return
	}
	if _, err := s.held.Release(ctx, ws, connID); err != nil {
		s.log.WarnContext(ctx, "held deliveries not released", "connectionId", connID, "error", err.Error())
	}
}
