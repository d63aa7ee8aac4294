package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/fedgate/fedgate/shared/faults"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/ids"
	"github.com/fedgate/fedgate/shared/queue"
	"github.com/fedgate/fedgate/shared/store"
)

// DefaultPageSize is how many subscriptions one fan-out invocation handles.
const DefaultPageSize = 500

// Publish stores an event of workspace ws and queues its fan-out. It returns
// the event id and how many deliveries the fan-out will make (the subscribed
// ACTIVE connections as of now).
func (s *Service) publish(ctx context.Context, ws, eventType string, payload json.RawMessage) (string, int, error) {
	n, err := s.count(ctx, ws, federation.NewEvent(eventType, payload))
	if err != nil {
		return "", 0, err
	}
	now := s.now().UTC()
	rec := store.NewRecord(federation.Message{
		ID: ids.New(), WorkspaceID: ws, MessageType: federation.TypePublished, Direction: federation.Outbound,
		Status: federation.MsgPending, EventType: eventType, Payload: payload, CreatedAt: now, UpdatedAt: now,
	}, "", nil, queue.Fanout)
	if err := s.outbox.Create(ctx, rec); err != nil {
		return "", 0, err
	}
	s.log.InfoContext(ctx, "event published", "eventId", rec.ID, "eventType", eventType, "deliveries", n, "workspaceId", ws)
	return rec.ID, n, nil
}

func (s *Service) count(ctx context.Context, ws string, ev *federation.Event) (int, error) {
	n, cursor := 0, ""
	for {
		conns, next, err := s.receivers(ctx, ws, ev, cursor)
		if err != nil {
			return 0, err
		}
		n += len(conns)
		if next == "" {
			return n, nil
		}
		cursor = next
	}
}

// receivers returns one page of the ACTIVE connections with a subscription
// that receives ev (each once), and the cursor of the next page.
func (s *Service) receivers(ctx context.Context, ws string, ev *federation.Event, cursor string) ([]*federation.Connection, string, error) {
	subs, next, err := s.subscriptions.Candidates(ctx, ws, ev.Type, s.pageSize, cursor)
	if err != nil {
		return nil, "", err
	}
	conns, err := s.activeConnections(ctx, ws, subs, ev)
	return conns, next, err
}

// activeConnections returns the distinct ACTIVE connections of the subs
// that receive ev, in order.
func (s *Service) activeConnections(ctx context.Context, ws string, subs []federation.Subscription, ev *federation.Event) ([]*federation.Connection, error) {
	var connIDs []string
	seen := map[string]bool{}
	for _, sub := range subs {
		if !seen[sub.ConnectionID] && sub.Receives(ev) {
			seen[sub.ConnectionID] = true
			connIDs = append(connIDs, sub.ConnectionID)
		}
	}
	found, err := s.connections.GetMany(ctx, ws, connIDs)
	if err != nil {
		return nil, err
	}
	var out []*federation.Connection
	for _, id := range connIDs {
		if c, ok := found[id]; ok && c.Status == federation.StatusActive {
			out = append(out, c)
		}
	}
	return out, nil
}

// DeliveryID is the id of an event's delivery to a connection: derived, so a
// fan-out job that runs twice writes the same deliveries, not new ones.
func DeliveryID(eventID, connID string) string { return ids.Derived("delivery", eventID, connID) }

// Fanout handles one job of the fanout queue: one page of an event's
// subscribers, or one page of a replay or catch-up.
func (s *Service) Fanout(ctx context.Context, job queue.Job) error {
	if job.Kind == queue.KindReplay || job.Kind == queue.KindCatchUp {
		return s.resendPage(ctx, job)
	}
	event, err := s.messages.Get(ctx, job.WorkspaceID, job.MessageID)
	if errors.Is(err, store.ErrNotFound) {
		s.log.WarnContext(ctx, "fan-out job for an unknown event dropped", "eventId", job.MessageID)
		return nil
	}
	if err != nil {
		return fmt.Errorf("fan-out of %s: %w", job.MessageID, err)
	}
	conns, next, err := s.receivers(ctx, event.WorkspaceID, federation.NewEvent(event.EventType, event.Payload), job.Cursor)
	if err != nil {
		return err
	}
	recs := make([]*store.MessageRecord, len(conns))
	for i, c := range conns {
		recs[i] = s.delivery(event, c.ID, DeliveryID(event.ID, c.ID), "", event.CreatedAt)
	}
	if err := s.write(ctx, event.WorkspaceID, recs); err != nil {
		return err
	}
	if next != "" {
		// Continue with the next page in a new invocation.
		if err := s.jobs.Send(ctx, queue.Fanout, queue.Job{WorkspaceID: job.WorkspaceID, MessageID: job.MessageID, Cursor: next}, 0); err != nil {
			return err
		}
	}
	s.log.InfoContext(ctx, "fan-out page done", "eventId", event.ID, "deliveries", len(recs), "more", next != "")
	return nil
}

// delivery builds the delivery message of an event to a connection.
func (s *Service) delivery(event *store.MessageRecord, connID, id, replayOf string, created time.Time) *store.MessageRecord {
	body, _ := json.Marshal(federation.EventBody{EventType: event.EventType, Payload: event.Payload, ReplayOf: replayOf})
	return store.NewRecord(federation.Message{
		ID: id, WorkspaceID: event.WorkspaceID, ConnectionID: connID, MessageType: federation.TypeEvent,
		Direction: federation.Outbound, Status: federation.MsgPending, EventType: event.EventType,
		Payload: event.Payload, ReplayOf: replayOf, CreatedAt: created, UpdatedAt: s.now().UTC(),
	}, federation.EnvEvent, body, "")
}

// write stores the deliveries that do not exist yet and queues a job for
// each delivery not yet attempted. The fan-out job is deleted only after
// both succeeded, so a crash in between runs the page again: the existing
// deliveries are found and only their jobs are sent (again; a duplicate job
// is harmless).
func (s *Service) write(ctx context.Context, ws string, recs []*store.MessageRecord) error {
	idList := make([]string, len(recs))
	for i, r := range recs {
		idList[i] = r.ID
	}
	existing, err := s.messages.Existing(ctx, ws, idList)
	if err != nil {
		return err
	}
	var fresh []*store.MessageRecord
	var jobs []queue.Job
	for _, r := range recs {
		if old, ok := existing[r.ID]; ok {
			if old.Attempts > 0 || old.Sent() {
				continue
			}
		} else {
			fresh = append(fresh, r)
		}
		jobs = append(jobs, queue.Job{WorkspaceID: ws, MessageID: r.ID})
	}
	if err := s.messages.BatchCreate(ctx, fresh); err != nil {
		return err
	}
	s.faults.At(faults.AfterFanoutWrite)
	if failed, err := s.jobs.SendBatch(ctx, queue.Delivery, jobs); err != nil {
		return fmt.Errorf("%d delivery jobs not sent: %w", len(failed), err)
	}
	return nil
}

// resend makes new deliveries of earlier deliveries to their connection
// (replay and redeliver): new ids, carrying replayOf. It returns their ids.
func (s *Service) resend(ctx context.Context, ws string, originals []*store.MessageRecord) ([]string, error) {
	recs := make([]*store.MessageRecord, len(originals))
	out := make([]string, len(originals))
	now := s.now().UTC()
	for i, o := range originals {
		recs[i] = s.delivery(o, o.ConnectionID, ids.New(), o.ID, now)
		// Marked for the sweeper: unlike a fan-out job, a request is not retried.
		recs[i].WithOutbox(queue.Delivery, now)
		out[i] = recs[i].ID
	}
	if err := s.write(ctx, ws, recs); err != nil {
		return nil, err
	}
	for _, r := range recs {
		if err := s.messages.ClearOutbox(ctx, ws, r.ID); err != nil {
			s.log.WarnContext(ctx, "outbox marker not cleared", "messageId", r.ID, "error", err.Error())
		}
	}
	return out, nil
}

// SendTo delivers an event of workspace ws to one connection only, if that
// peer subscribed to its type (used for events about the peer's own agents).
// It reports whether a delivery was made.
func (s *Service) SendTo(ctx context.Context, ws, connID, eventType string, payload json.RawMessage) (bool, error) {
	subs, err := s.subscriptions.Active(ctx, ws, connID, federation.Inbound)
	if err != nil {
		return false, err
	}
	if !federation.AnyReceives(subs, federation.NewEvent(eventType, payload)) {
		return false, nil
	}
	now := s.now().UTC()
	event := &store.MessageRecord{Message: federation.Message{WorkspaceID: ws, EventType: eventType, Payload: payload}}
	rec := s.delivery(event, connID, ids.New(), "", now).WithOutbox(queue.Delivery, now)
	return true, s.outbox.Create(ctx, rec)
}
