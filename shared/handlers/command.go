package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/fedgate/fedgate/shared/api"
	"github.com/fedgate/fedgate/shared/app"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/ids"
	"github.com/fedgate/fedgate/shared/incoming"
	"github.com/fedgate/fedgate/shared/queue"
	"github.com/fedgate/fedgate/shared/store"
)

func commandNotAllowed(commandType string) error {
	return api.Errorf(http.StatusForbidden, "command_not_allowed", "command type %q is not allowed", commandType)
}

type commandRequest struct {
	ConnectionID string          `json:"connectionId"`
	CommandType  string          `json:"commandType"`
	Payload      json.RawMessage `json:"payload"`
}

// checkCommand validates a command's type and payload (PROTOCOL §7).
func checkCommand(v *api.Validator, commandType string, payload json.RawMessage) {
	v.Required("commandType", commandType)
	if commandType != "" {
		v.Check(validTypeName(commandType), "commandType", "must be dot-separated lower-case words")
	}
	rawObject(v, "payload", payload)
}

// SendCommand stores an OUTBOUND COMMAND with its response deadline and
// queues its delivery; it returns the PENDING message.
func SendCommand(ctx context.Context, a *app.App, conn *federation.Connection, commandType string, payload json.RawMessage) (*store.MessageRecord, error) {
	if len(payload) == 0 {
		payload = json.RawMessage("{}")
	}
	body, _ := json.Marshal(federation.CommandBody{CommandType: commandType, Payload: payload})
	now := a.Now().UTC()
	rec := a.Messages.NewRecord(federation.Message{
		ID: ids.New(), WorkspaceID: conn.WorkspaceID, ConnectionID: conn.ID, MessageType: federation.TypeCommand,
		Direction: federation.Outbound, Status: federation.MsgPending, CommandType: commandType, Payload: payload,
		CreatedAt: now, UpdatedAt: now,
	}, federation.EnvCommand, body, queue.Delivery).WithDeadline(now.Add(a.Config.CommandTimeout))
	if err := a.Outbox.Create(ctx, rec); err != nil {
		return nil, err
	}
	return rec, nil
}

// CommandSend serves POST /command: 202 with the PENDING message; the
// deliverer sends it and the response arrives at /incoming/command/response.
func CommandSend(a *app.App) api.LambdaHandler {
	return handle(a, "command-send", func(ctx context.Context, c *api.Call) (int, any, error) {
		var req commandRequest
		if err := c.Decode(&req); err != nil {
			return 0, nil, err
		}
		var v api.Validator
		v.Required("connectionId", req.ConnectionID)
		checkCommand(&v, req.CommandType, req.Payload)
		if err := v.Err(); err != nil {
			return 0, nil, err
		}
		if !federation.CommandAllowed(req.CommandType, []string{req.CommandType}) {
			return 0, nil, commandNotAllowed(req.CommandType) // credentials never cross
		}
		conn, err := activeConnection(ctx, a, c.Claims.Workspace, req.ConnectionID)
		if err != nil {
			return 0, nil, err
		}
		rec, err := SendCommand(ctx, a, conn, req.CommandType, req.Payload)
		if err != nil {
			return 0, nil, err
		}
		c.Log.Info("command queued", "messageId", rec.ID, "commandType", req.CommandType)
		return http.StatusAccepted, rec.Message, nil
	})
}

type commandEnvelope struct {
	federation.Envelope
	federation.CommandBody
}

// IncomingCommand serves POST /incoming/command: after verification and the
// allow-list, the command is stored and queued for the dispatcher, and the
// sender gets 202 {accepted, messageId}.
func IncomingCommand(a *app.App) api.LambdaHandler {
	return handle(a, "incoming-command", func(ctx context.Context, c *api.Call) (int, any, error) {
		in, msg, err := verified[commandEnvelope](ctx, a, c, federation.EnvCommand)
		if err != nil {
			return 0, nil, err
		}
		var v api.Validator
		checkCommand(&v, msg.CommandType, msg.Payload)
		if err := v.Err(); err != nil {
			return 0, nil, err
		}
		return incoming.Respond(in, func() (store.Answer, error) {
			self, err := a.Identity.Ensure(ctx)
			if err != nil {
				return store.Answer{}, err
			}
			if !federation.CommandAllowed(msg.CommandType, self.CommandTypes) {
				return store.Answer{}, commandNotAllowed(msg.CommandType)
			}
			if err := ValidateCommandPayload(msg.CommandType, msg.Payload); err != nil {
				return store.Answer{}, err
			}
			conn := in.Conn
			now := a.Now().UTC()
			rec := a.Messages.NewRecord(federation.Message{
				ID: in.MessageID, WorkspaceID: conn.WorkspaceID, ConnectionID: conn.ID, MessageType: federation.TypeCommand,
				Direction: federation.Inbound, Status: federation.MsgPending, CommandType: msg.CommandType,
				Payload: msg.Payload, CreatedAt: now, UpdatedAt: now, DeliveredAt: &now,
			}, "", nil, queue.Dispatch)
			answer, _ := incoming.AnswerJSON(http.StatusAccepted, map[string]any{"accepted": true, "messageId": in.MessageID})
			if err := a.Messages.CreateIncoming(ctx, conn.WorkspaceID, conn.ID, in.MessageID, rec, answer); err != nil {
				return store.Answer{}, err
			}
			a.Outbox.Kick(ctx, rec)
			c.Log.Info("command accepted", "messageId", in.MessageID, "commandType", msg.CommandType)
			return answer, nil
		})
	})
}

// ValidateCommandPayload checks the payload of command types fedgate knows;
// others are the backend's business.
func ValidateCommandPayload(commandType string, payload json.RawMessage) error {
	if check, ok := payloadChecks[commandType]; ok {
		return check(payload)
	}
	return nil
}

// payloadChecks holds the validators of built-in command types.
var payloadChecks = map[string]func(json.RawMessage) error{}

// IncomingCommandResponse serves POST /incoming/command/response: the
// answer to one of our commands completes (or fails) it.
func IncomingCommandResponse(a *app.App) api.LambdaHandler {
	return handle(a, "incoming-command-response", func(ctx context.Context, c *api.Call) (int, any, error) {
		in, msg, err := verified[responseEnvelope](ctx, a, c, federation.EnvCommandResponse)
		if err != nil {
			return 0, nil, err
		}
		if msg.CorrelationID == "" {
			return 0, nil, api.ValidationFailed("correlationId is required")
		}
		return incoming.Respond(in, func() (store.Answer, error) {
			conn := in.Conn
			rec, err := outgoingOn(ctx, a, conn, msg.CorrelationID, federation.TypeCommand)
			if err != nil {
				return store.Answer{}, err
			}
			resp := &federation.Response{Success: msg.Success, Data: msg.Data, Error: msg.Error}
			status := federation.MsgCompleted
			if !msg.Success {
				status = federation.MsgFailed
			}
			now := a.Now().UTC()
			errText := msg.Error
			updated, err := a.Messages.Update(ctx, conn.WorkspaceID, rec.ID, store.MessageUpdate{
				Status: status, From: []string{federation.MsgPending, federation.MsgRetrying, federation.MsgDelivered},
				Response: resp, Error: &errText, CompletedAt: &now, ClearDeadline: true, ClearNext: true,
			})
			switch {
			case errors.Is(err, store.ErrConflict):
				c.Log.Warn("response to a finished command ignored", "messageId", rec.ID, "status", updated.Status)
				status = updated.Status
			case err != nil:
				return store.Answer{}, err
			default:
				a.ObserveCommandResponse(ctx, updated)
			}
			answer, _ := incoming.AnswerJSON(http.StatusOK, map[string]string{"status": status})
			return answer, a.Messages.CreateIncoming(ctx, conn.WorkspaceID, conn.ID, in.MessageID, nil, answer)
		})
	})
}

// outgoingOn finds the outgoing message of msgType that an incoming answer
// (COMMAND_RESPONSE, EVENT_ACK) correlates to: it must have been sent on the
// answer's own connection, or it is not found.
func outgoingOn(ctx context.Context, a *app.App, conn *federation.Connection, id, msgType string) (*store.MessageRecord, error) {
	rec, err := a.Messages.Get(ctx, conn.WorkspaceID, id)
	if err == nil && (rec.MessageType != msgType || rec.Direction != federation.Outbound || rec.ConnectionID != conn.ID) {
		err = store.ErrNotFound
	}
	if err != nil {
		return nil, storeError(err, "outgoing "+strings.ToLower(msgType)+" message")
	}
	return rec, nil
}

// CommandsList serves GET /commands.
func CommandsList(a *app.App) api.LambdaHandler {
	return listMessages(a, "commands-list", federation.TypeCommand)
}

// CommandsGet serves GET /commands/{id} (?waitSeconds=).
func CommandsGet(a *app.App) api.LambdaHandler {
	return getMessage(a, "commands-get", federation.TypeCommand)
}
