package events

import (
	"context"
	"errors"
	"time"

	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/ids"
	"github.com/fedgate/fedgate/shared/queue"
	"github.com/fedgate/fedgate/shared/store"
)

// Redeliver makes a new delivery of one of the workspace's outgoing event
// messages, carrying replayOf; it returns the new message's id.
func (s *Service) Redeliver(ctx context.Context, ws, id string) (string, error) {
	rec, err := s.messages.Get(ctx, ws, id)
	if err == nil && (rec.MessageType != federation.TypeEvent || rec.Direction != federation.Outbound) {
		err = store.ErrNotFound
	}
	if errors.Is(err, store.ErrNotFound) {
		return "", federation.NotFoundf("outgoing event message not found")
	}
	if err != nil {
		return "", err
	}
	if _, err := s.connections.GetActive(ctx, ws, rec.ConnectionID); err != nil {
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

// Replay sends a peer every event this workspace published in a window that
// matches the connection's subscriptions (or eventType), taken from the event
// log, so events missed while the connection was SUSPENDED, its circuit open
// or the subscription not yet synced are recovered. Each goes as a new
// delivery carrying replayOf, oldest first; the work continues in the
// background page by page. It returns how many events the window holds.
func (s *Service) Replay(ctx context.Context, ws string, in ReplayInput) (int, error) {
	until := s.now()
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
	conn, err := s.connections.GetActive(ctx, ws, in.ConnectionID)
	if err != nil {
		return 0, err
	}
	patterns := []string{in.EventType}
	if in.EventType == "" {
		if patterns, err = s.peerPatterns(ctx, conn); err != nil {
			return 0, err
		}
	}
	n, err := s.resendLog(ctx, conn, queue.KindReplay, *in.Since, until, patterns)
	if err != nil {
		return 0, err
	}
	s.log.InfoContext(ctx, "replay", "connectionId", conn.ID, "events", n)
	return n, nil
}

// CatchUp sends a peer the events published since `since` that it
// subscribed to and that no delivery to it exists for (fan-out skipped it
// while the connection was SUSPENDED): a resumed connection misses nothing.
func (s *Service) CatchUp(ctx context.Context, conn *federation.Connection, since time.Time) error {
	patterns, err := s.peerPatterns(ctx, conn)
	if err != nil {
		return err
	}
	n, err := s.resendLog(ctx, conn, queue.KindCatchUp, since, s.now(), patterns)
	if err == nil && n > 0 {
		s.log.InfoContext(ctx, "catch-up", "connectionId", conn.ID, "events", n, "since", since)
	}
	return err
}

// peerPatterns are the event types the peer on conn subscribed to here.
func (s *Service) peerPatterns(ctx context.Context, conn *federation.Connection) ([]string, error) {
	subs, err := s.peerSubscriptions(ctx, conn.WorkspaceID, conn.ID)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(subs))
	for i, sub := range subs {
		out[i] = sub.EventType
	}
	return out, nil
}

// peerSubscriptions are the active subscriptions the peer on a connection
// holds here.
func (s *Service) peerSubscriptions(ctx context.Context, ws, connID string) ([]federation.Subscription, error) {
	return s.subscriptions.Active(ctx, ws, connID, federation.Inbound)
}

// subscribedWhen reports whether one of subs that receives ev existed when
// ev was published: a catch-up sends what the fan-out would have sent,
// never events from before the peer subscribed (a replay is for those).
func subscribedWhen(subs []federation.Subscription, ev *store.MessageRecord, e *federation.Event) bool {
	for _, sub := range subs {
		if sub.Receives(e) && !ev.CreatedAt.Before(sub.CreatedAt) {
			return true
		}
	}
	return false
}

// asked turns the patterns a replay job carries into the subscriptions that
// decide which events it sends.
func asked(patterns []string) []federation.Subscription {
	subs := make([]federation.Subscription, len(patterns))
	for i, p := range patterns {
		subs[i] = federation.Subscription{EventType: p, IsActive: true}
	}
	return subs
}

// resendLog counts the matching events of the window and queues the job
// that sends them, page by page (fanout queue).
func (s *Service) resendLog(ctx context.Context, conn *federation.Connection, kind string, since, until time.Time, patterns []string) (int, error) {
	n, err := s.messages.CountEvents(ctx, conn.WorkspaceID, since, until, patterns)
	if err != nil || n == 0 {
		return 0, err
	}
	job := queue.Job{
		WorkspaceID: conn.WorkspaceID, MessageID: ids.New(), Kind: kind, ConnectionID: conn.ID,
		Since: since.UnixMilli(), Until: until.UnixMilli(), Patterns: patterns,
	}
	return n, s.jobs.Send(ctx, queue.Fanout, job, 0)
}

// logPage is the events a replay or catch-up job handles in one invocation.
const logPage = 100

// resendPage handles one page of a replay or catch-up job. Delivery ids are
// derived (from the replay and the event, or for a catch-up the fan-out's own
// id), so a job that runs twice writes the same deliveries, and a catch-up
// skips events the peer already has a delivery of.
func (s *Service) resendPage(ctx context.Context, job queue.Job) error {
	events, next, err := s.messages.EventLog(ctx, job.WorkspaceID, time.UnixMilli(job.Since), time.UnixMilli(job.Until), logPage, job.Cursor)
	if err != nil {
		return err
	}
	var subs []federation.Subscription
	if job.Kind == queue.KindCatchUp {
		// Read per page: a subscription dropped mid catch-up stops it.
		if subs, err = s.peerSubscriptions(ctx, job.WorkspaceID, job.ConnectionID); err != nil {
			return err
		}
	}
	now := s.now().UTC()
	patterns := asked(job.Patterns)
	var recs []*store.MessageRecord
	for _, ev := range events {
		e := federation.NewEvent(ev.EventType, ev.Payload)
		if !federation.AnyReceives(patterns, e) || (job.Kind == queue.KindCatchUp && !subscribedWhen(subs, ev, e)) {
			continue
		}
		id, replayOf := DeliveryID(ev.ID, job.ConnectionID), ""
		if job.Kind == queue.KindReplay {
			id, replayOf = ids.Derived("replay", job.MessageID, ev.ID), ev.ID
		}
		recs = append(recs, s.delivery(ev, job.ConnectionID, id, replayOf, now))
	}
	if err := s.write(ctx, job.WorkspaceID, recs); err != nil {
		return err
	}
	if next != "" {
		job.Cursor = next
		return s.jobs.Send(ctx, queue.Fanout, job, 0)
	}
	return nil
}

// catchUpMargin reaches back before a suspension for events whose fan-out
// ran after it (and so skipped the connection).
const catchUpMargin = time.Hour

// Resumed syncs a resumed connection's subscriptions both ways and catches
// the peer up on the events it missed while SUSPENDED.
func (s *Service) Resumed(ctx context.Context, conn *federation.Connection, suspendedAt time.Time) error {
	s.release(ctx, conn.WorkspaceID, conn.ID) // what waited for the resume goes now
	if err := s.Sync(ctx, conn); err != nil {
		return err
	}
	return s.CatchUp(ctx, conn, suspendedAt.Add(-catchUpMargin))
}
