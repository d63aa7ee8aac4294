package events

import (
	"context"
	"errors"
	"time"

	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/store"
)

// MaxReplay bounds the deliveries one replay request makes.
const MaxReplay = 1000

// Redeliver makes a new delivery of one of the workspace's outgoing event
// messages, carrying replayOf; it returns the new message's id.
func (s *Service) Redeliver(ctx context.Context, ws, id string) (string, error) {
	rec, err := s.Messages.Get(ctx, ws, id)
	if err == nil && (rec.MessageType != federation.TypeEvent || rec.Direction != federation.Outbound) {
		err = store.ErrNotFound
	}
	if errors.Is(err, store.ErrNotFound) {
		return "", federation.NotFoundf("outgoing event message not found")
	}
	if err != nil {
		return "", err
	}
	if _, err := s.Connections.GetActive(ctx, ws, rec.ConnectionID); err != nil {
		return "", err
	}
	created, err := s.resend(ctx, ws, []*store.MessageRecord{rec})
	if err != nil {
		return "", err
	}
	return created[0], nil
}

// ReplayInput is a window of events to send a peer again.
type ReplayInput struct {
	ConnectionID string     `json:"connectionId"`
	Since        *time.Time `json:"since"`
	Until        *time.Time `json:"until"`
	EventType    string     `json:"eventType"`
}

// Replay sends the events delivered to a peer in a window again, as new
// deliveries, oldest first; it returns how many.
func (s *Service) Replay(ctx context.Context, ws string, in ReplayInput) (int, error) {
	until := s.Now()
	if in.Until != nil {
		until = *in.Until
	}
	var v federation.Checks
	v.Required("connectionId", in.ConnectionID)
	v.Check(in.Since != nil, "since", "is required (RFC 3339 time)")
	v.Check(in.Since == nil || in.Since.Before(until), "since", "must be before until")
	v.Check(in.EventType == "" || federation.ValidEventPattern(in.EventType), "eventType", "must be an event type or a pattern ending in .*")
	if err := v.Err(); err != nil {
		return 0, err
	}
	conn, err := s.Connections.GetActive(ctx, ws, in.ConnectionID)
	if err != nil {
		return 0, err
	}
	originals, err := s.Messages.Window(ctx, ws, federation.TypeEvent, *in.Since, until, func(m *store.MessageRecord) bool {
		return m.Direction == federation.Outbound && m.ConnectionID == conn.ID && m.ReplayOf == "" &&
			(in.EventType == "" || federation.MatchEventType(in.EventType, m.EventType))
	}, MaxReplay)
	if errors.Is(err, store.ErrConflict) {
		return 0, federation.Invalidf("the window holds more than %d events; replay a shorter one", MaxReplay)
	}
	if err != nil {
		return 0, err
	}
	if _, err := s.resend(ctx, ws, originals); err != nil {
		return 0, err
	}
	s.Log.Info("replay", "connectionId", conn.ID, "deliveries", len(originals))
	return len(originals), nil
}
