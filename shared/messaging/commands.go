package messaging

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/fedgate/fedgate/shared/delivery"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/ids"
	"github.com/fedgate/fedgate/shared/incoming"
	"github.com/fedgate/fedgate/shared/queue"
	"github.com/fedgate/fedgate/shared/store"
)

// CommandInput is a user's command to a peer.
type CommandInput struct {
	ConnectionID string          `json:"connectionId"`
	CommandType  string          `json:"commandType"`
	Payload      json.RawMessage `json:"payload"`
}

func checkCommand(v *federation.Checks, commandType string, payload json.RawMessage) {
	v.Required("commandType", commandType)
	if commandType != "" {
		v.Check(federation.ValidTypeName(commandType), "commandType", "must be dot-separated lower-case words such as agent.spawn")
	}
	v.Object("payload", payload)
}

func commandNotAllowed(commandType string) error {
	return federation.Errorf(federation.CodeCommandNotAllowed, "command type %q is not allowed", commandType)
}

// Command stores an OUTBOUND COMMAND for the deliverer and returns it
// PENDING; the response arrives at /incoming/command/response.
func (s *Service) Command(ctx context.Context, ws string, in CommandInput) (*federation.Message, error) {
	var v federation.Checks
	v.Required("connectionId", in.ConnectionID)
	checkCommand(&v, in.CommandType, in.Payload)
	if err := v.Err(); err != nil {
		return nil, err
	}
	if !federation.CommandAllowed(in.CommandType, []string{in.CommandType}) {
		return nil, commandNotAllowed(in.CommandType) // credentials never cross
	}
	conn, err := s.connections.GetActive(ctx, ws, in.ConnectionID)
	if err != nil {
		return nil, err
	}
	rec, err := s.SendCommand(ctx, conn, in.CommandType, in.Payload)
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "command queued", "messageId", rec.ID, "commandType", in.CommandType)
	return &rec.Message, nil
}

// SendCommand stores an OUTBOUND COMMAND on an ACTIVE connection with its
// response deadline and queues its delivery; it returns the PENDING record.
// Other capabilities send their commands (agent.*) with it.
func (s *Service) SendCommand(ctx context.Context, conn *federation.Connection, commandType string, payload json.RawMessage) (*store.MessageRecord, error) {
	return s.send(ctx, conn, commandType, payload, true)
}

// SendUntilAnswered is SendCommand without a response deadline: the command
// never ends as TIMEOUT while its delivery is retried (event.subscribe and
// the like must reach the publisher, however long it is away).
func (s *Service) SendUntilAnswered(ctx context.Context, conn *federation.Connection, commandType string, payload json.RawMessage) (*store.MessageRecord, error) {
	return s.send(ctx, conn, commandType, payload, false)
}

func (s *Service) send(ctx context.Context, conn *federation.Connection, commandType string, payload json.RawMessage, deadline bool) (*store.MessageRecord, error) {
	if len(payload) == 0 {
		payload = json.RawMessage("{}")
	}
	now := s.now().UTC()
	// The command expires when the sender stops waiting: its timeout, or
	// for one retried until answered, the sender's 7-day horizon.
	expires := now.Add(delivery.Horizon)
	if deadline {
		expires = now.Add(s.commandTimeout)
	}
	body, _ := json.Marshal(federation.CommandBody{CommandType: commandType, Payload: payload, ExpiresAt: expires.UnixMilli()})
	rec := store.NewRecord(federation.Message{
		ID: ids.New(), WorkspaceID: conn.WorkspaceID, ConnectionID: conn.ID, MessageType: federation.TypeCommand,
		Direction: federation.Outbound, Status: federation.MsgPending, CommandType: commandType, Payload: payload,
		CreatedAt: now, UpdatedAt: now,
	}, federation.EnvCommand, body, queue.Delivery)
	if deadline {
		rec.WithDeadline(now.Add(s.commandTimeout))
	}
	if err := s.outbox.Create(ctx, rec); err != nil {
		return nil, err
	}
	return rec, nil
}

// ReceiveCommand accepts an incoming COMMAND: after verification and the
// allow-list it is stored and queued for the dispatcher, and the sender gets
// 202 {accepted, messageId}.
func (s *Service) ReceiveCommand(ctx context.Context, raw []byte) (store.Outcome, error) {
	var msg federation.CommandBody
	in, err := s.verifier.Verify(ctx, raw, federation.EnvCommand, &msg)
	if err != nil {
		return store.Outcome{}, err
	}
	var v federation.Checks
	checkCommand(&v, msg.CommandType, msg.Payload)
	if err := v.Err(); err != nil {
		return store.Outcome{}, err
	}
	ctx = in.Traced(ctx)
	return incoming.Respond(ctx, s.signer, in, func() (store.Outcome, error) {
		self, err := s.identity.Document(ctx)
		if err != nil {
			return store.Outcome{}, err
		}
		if !federation.CommandAllowed(msg.CommandType, self.Capabilities.CommandTypes) {
			return store.Outcome{}, commandNotAllowed(msg.CommandType)
		}
		if c, ok := s.commands[msg.CommandType]; ok {
			if err := c.check(msg.Payload); err != nil {
				return store.Outcome{}, err
			}
		}
		conn := in.Conn
		now := s.now().UTC()
		rec := store.NewRecord(federation.Message{
			ID: in.MessageID, WorkspaceID: conn.WorkspaceID, ConnectionID: conn.ID, MessageType: federation.TypeCommand,
			Direction: federation.Inbound, Status: federation.MsgPending, CommandType: msg.CommandType,
			Payload: msg.Payload, CreatedAt: now, UpdatedAt: now, DeliveredAt: &now,
		}, "", nil, queue.Dispatch)
		// A peer that sends no expiresAt gets this instance's own command
		// timeout from receipt (PROTOCOL.md §7).
		rec.RunBefore = now.Add(s.commandTimeout)
		if msg.ExpiresAt > 0 {
			rec.RunBefore = time.UnixMilli(msg.ExpiresAt).UTC()
		}
		answer := incoming.AnswerJSON(http.StatusAccepted, map[string]any{"accepted": true, "messageId": in.MessageID})
		if err := s.messages.CreateIncoming(ctx, conn.WorkspaceID, conn.ID, in.MessageID, rec, answer); err != nil {
			return store.Outcome{}, err
		}
		s.outbox.Kick(ctx, rec)
		s.log.InfoContext(ctx, "command accepted", "messageId", in.MessageID, "commandType", msg.CommandType)
		return answer, nil
	})
}

// ReceiveCommandResponse completes (or fails) one of our commands with the
// peer's COMMAND_RESPONSE.
func (s *Service) ReceiveCommandResponse(ctx context.Context, raw []byte) (store.Outcome, error) {
	var msg federation.ResponseBody
	return ReceiveAnswer(ctx, s.verifier, s.messages, raw, federation.EnvCommandResponse, federation.TypeCommand, &msg,
		func(ctx context.Context, conn *federation.Connection, rec *store.MessageRecord) (federation.MsgStatus, error) {
			step := federation.StepComplete
			if !msg.Success {
				step = federation.StepAnswerFailed
			}
			now := s.now().UTC()
			errText := msg.Error
			// The capability records the answer (the agent, the subscription's
			// syncedAt) before the command shows it: whoever sees the command
			// finished finds the record, and a crash in between leaves the
			// command open, so the peer's retried response records it again.
			if c, ok := s.commands[rec.CommandType]; ok && c.answered != nil && slices.Contains(step.From, rec.Status) {
				answered := *rec
				answered.Status, answered.Response, answered.Error, answered.CompletedAt = step.To, msg.Response(), errText, &now
				c.answered(ctx, &answered)
			}
			updated, err := s.messages.Update(ctx, conn.WorkspaceID, rec.ID, store.MessageUpdate{
				Step: step, Response: msg.Response(), Error: &errText, CompletedAt: &now, ClearDeadline: true, ClearNext: true,
			})
			switch {
			case errors.Is(err, store.ErrConflict):
				s.log.WarnContext(ctx, "response to a finished command ignored", "messageId", rec.ID, "status", updated.Status)
				return updated.Status, nil
			case err != nil:
				return "", err
			}
			return step.To, nil
		})
}

// Correlated is an answer's members: they name the message they answer.
type Correlated interface{ Correlates() string }

// ReceiveAnswer takes a late answer to one of our messages (COMMAND_RESPONSE,
// EVENT_ACK): it verifies the envelope into members, finds the outgoing
// message of msgType it answers on its own connection, lets apply record it
// and report the message's status, and keeps that answer for duplicates.
func ReceiveAnswer(ctx context.Context, v *incoming.Verifier, msgs *store.Messages, raw []byte, envType, msgType string, members Correlated,
	apply func(ctx context.Context, conn *federation.Connection, rec *store.MessageRecord) (federation.MsgStatus, error)) (store.Outcome, error) {
	in, err := v.Verify(ctx, raw, envType, members)
	if err != nil {
		return store.Outcome{}, err
	}
	if members.Correlates() == "" {
		return store.Outcome{}, federation.Invalidf("correlationId is required")
	}
	ctx = in.Traced(ctx)
	// The answer is unsigned: no signer is needed to repeat it.
	return incoming.Respond(ctx, nil, in, func() (store.Outcome, error) {
		rec, err := OutgoingOn(ctx, msgs, in.Conn, members.Correlates(), msgType)
		if err != nil {
			return store.Outcome{}, err
		}
		status, err := apply(ctx, in.Conn, rec)
		if err != nil {
			return store.Outcome{}, err
		}
		answer := incoming.AnswerJSON(http.StatusOK, map[string]federation.MsgStatus{"status": status})
		return answer, msgs.CreateIncoming(ctx, in.Conn.WorkspaceID, in.Conn.ID, in.MessageID, nil, answer)
	})
}

// OutgoingOn finds the outgoing message of msgType that an incoming answer
// (COMMAND_RESPONSE, EVENT_ACK) correlates to: it must have been sent on the
// answer's own connection, or it is not found.
func OutgoingOn(ctx context.Context, msgs *store.Messages, conn *federation.Connection, id, msgType string) (*store.MessageRecord, error) {
	rec, err := msgs.Get(ctx, conn.WorkspaceID, id)
	if err == nil && (rec.MessageType != msgType || rec.Direction != federation.Outbound || rec.ConnectionID != conn.ID) {
		err = store.ErrNotFound
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, federation.NotFoundf("outgoing %s message not found", strings.ToLower(msgType))
	}
	return rec, err
}
