package events

import (
	"context"
	"errors"
	"net/http"

	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/incoming"
	"github.com/fedgate/fedgate/shared/messaging"
	"github.com/fedgate/fedgate/shared/peer"
	"github.com/fedgate/fedgate/shared/store"
)

// Receive stores an incoming EVENT (IGNORED if this workspace never
// subscribed to its type) and answers with a signed EVENT_ACK.
func (s *Service) Receive(ctx context.Context, raw []byte) (store.Outcome, error) {
	var msg federation.EventBody
	in, err := s.verifier.Verify(ctx, raw, federation.EnvEvent, &msg)
	if err != nil {
		return store.Outcome{}, err
	}
	var v federation.Checks
	v.Check(federation.ValidTypeName(msg.EventType), "eventType", "must be dot-separated lower-case words")
	v.Object("payload", msg.Payload)
	if err := v.Err(); err != nil {
		return store.Outcome{}, err
	}
	ctx = in.Traced(ctx)
	return incoming.Respond(ctx, s.signer, in, func() (store.Outcome, error) {
		conn := in.Conn
		subs, err := s.subscriptions.Active(ctx, conn.WorkspaceID, conn.ID, federation.Outbound)
		if err != nil {
			return store.Outcome{}, err
		}
		received := federation.AnyReceives(subs, federation.NewEvent(msg.EventType, msg.Payload))
		status := federation.MsgDelivered
		if !received {
			status = federation.MsgIgnored
		}
		now := s.now().UTC()
		rec := store.NewRecord(federation.Message{
			ID: in.MessageID, WorkspaceID: conn.WorkspaceID, ConnectionID: conn.ID, MessageType: federation.TypeEvent,
			Direction: federation.Inbound, Status: status, EventType: msg.EventType, Payload: msg.Payload,
			ReplayOf: msg.ReplayOf, Attempts: 1, CreatedAt: now, UpdatedAt: now, DeliveredAt: &now,
		}, "", nil, "")
		answer := incoming.SignedAnswer(http.StatusOK, federation.EnvEventAck,
			federation.EventAckBody{CorrelationID: in.MessageID, Received: received})
		if err := s.messages.CreateIncoming(ctx, conn.WorkspaceID, conn.ID, in.MessageID, rec, answer); err != nil {
			return store.Outcome{}, err
		}
		if received && s.receiver != nil {
			s.receiver.EventReceived(ctx, rec)
		}
		return answer, nil
	})
}

// ReceiveAck takes a late EVENT_ACK (from a receiver that answered 202):
// the delivery becomes DELIVERED.
func (s *Service) ReceiveAck(ctx context.Context, raw []byte) (store.Outcome, error) {
	var msg federation.EventAckBody
	return messaging.ReceiveAnswer(ctx, s.verifier, s.messages, raw, federation.EnvEventAck, federation.TypeEvent, &msg,
		func(ctx context.Context, conn *federation.Connection, rec *store.MessageRecord) (federation.MsgStatus, error) {
			now := s.now().UTC()
			updated, err := s.messages.Update(ctx, conn.WorkspaceID, rec.ID, store.MessageUpdate{
				Step: federation.StepDeliver, Response: federation.AckResponse(msg.Received, rec.EventType),
				DeliveredAt: &now, ClearNext: true, ClearDeadline: true,
			})
			if errors.Is(err, store.ErrConflict) {
				return updated.Status, nil
			}
			if err == nil {
				p := peer.OriginOf(conn.RemoteURL)
				if rec.DeliveredAt != nil {
					s.metrics.AckLatency(p, now.Sub(*rec.DeliveredAt))
				}
				s.metrics.Delivered(p, now.Sub(rec.CreatedAt), rec.Attempts)
			}
			return federation.MsgDelivered, err
		})
}
