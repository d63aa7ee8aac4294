package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/fedgate/fedgate/shared/api"
	"github.com/fedgate/fedgate/shared/app"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/ids"
	"github.com/fedgate/fedgate/shared/incoming"
	"github.com/fedgate/fedgate/shared/queue"
	"github.com/fedgate/fedgate/shared/store"
)

// maxEventPayload bounds an event's payload: with the envelope around it, it
// must stay well inside an SQS message and a DynamoDB item.
const maxEventPayload = 64 * 1024

// maxReplay bounds the deliveries one replay request makes.
const maxReplay = 1000

func init() {
	check := func(payload json.RawMessage) error {
		var p struct {
			EventType string `json:"eventType"`
		}
		if json.Unmarshal(payload, &p) != nil || !federation.ValidEventPattern(p.EventType) {
			return api.ValidationFailed("payload.eventType must be an event type or a pattern ending in .*")
		}
		return nil
	}
	payloadChecks["event.subscribe"] = check
	payloadChecks["event.unsubscribe"] = check
}

// subscriptionView is the Subscription resource.
type subscriptionView struct {
	federation.Subscription
	Metadata json.RawMessage `json:"metadata"`
}

func viewSubscription(s federation.Subscription) subscriptionView {
	meta := json.RawMessage(s.Metadata)
	if len(meta) == 0 {
		meta = json.RawMessage("{}")
	}
	return subscriptionView{Subscription: s, Metadata: meta}
}

type subscribeRequest struct {
	ConnectionID string          `json:"connectionId"`
	EventType    string          `json:"eventType"`
	Metadata     json.RawMessage `json:"metadata"`
}

func (r subscribeRequest) validate(withMetadata bool) error {
	var v api.Validator
	v.Required("connectionId", r.ConnectionID)
	v.Check(federation.ValidEventPattern(r.EventType), "eventType",
		"must be dot-separated lower-case words (task.created), optionally ending in .* (project.*)")
	if withMetadata {
		rawObject(&v, "metadata", r.Metadata)
	}
	return v.Err()
}

// subscriptionChange serves subscribe and unsubscribe: the subscriber's own
// record changes and the publisher is told with an event.subscribe or
// event.unsubscribe COMMAND, so the publisher holds the list it fans out to.
func subscriptionChange(a *app.App, name string, active bool) api.LambdaHandler {
	return handle(a, name, func(ctx context.Context, c *api.Call) (int, any, error) {
		var req subscribeRequest
		if err := c.Decode(&req); err != nil {
			return 0, nil, err
		}
		if err := req.validate(active); err != nil {
			return 0, nil, err
		}
		ws := c.Claims.Workspace
		conn, err := activeConnection(ctx, a, ws, req.ConnectionID)
		if err != nil {
			return 0, nil, err
		}
		if !active {
			if _, err := a.Subs.Get(ctx, ws, conn.ID, federation.Outbound, req.EventType); err != nil {
				return 0, nil, storeError(err, "subscription")
			}
		}
		var meta []byte
		if len(req.Metadata) > 0 && string(req.Metadata) != "null" {
			meta = req.Metadata
		}
		sub, err := a.Subs.Set(ctx, ws, conn.ID, federation.Outbound, req.EventType, active, meta)
		if err != nil {
			return 0, nil, err
		}
		commandType := "event.unsubscribe"
		if active {
			commandType = "event.subscribe"
		}
		payload, _ := json.Marshal(map[string]string{"eventType": req.EventType})
		if _, err := SendCommand(ctx, a, conn, commandType, payload); err != nil {
			return 0, nil, err
		}
		status := http.StatusOK
		if active {
			status = http.StatusCreated
		}
		c.Log.Info(commandType, "connectionId", conn.ID, "eventType", req.EventType)
		return status, viewSubscription(*sub), nil
	})
}

// EventsSubscribe serves POST /events/subscribe.
func EventsSubscribe(a *app.App) api.LambdaHandler {
	return subscriptionChange(a, "events-subscribe", true)
}

// EventsUnsubscribe serves POST /events/unsubscribe.
func EventsUnsubscribe(a *app.App) api.LambdaHandler {
	return subscriptionChange(a, "events-unsubscribe", false)
}

// EventsSubscriptions serves GET /events/subscriptions (?connectionId=): the
// subscriptions this workspace made (OUTBOUND) and those peers made to it (INBOUND).
func EventsSubscriptions(a *app.App) api.LambdaHandler {
	return handle(a, "events-subscriptions", func(ctx context.Context, c *api.Call) (int, any, error) {
		subs, err := a.Subs.List(ctx, c.Claims.Workspace, c.Query("connectionId"))
		if err != nil {
			return 0, nil, err
		}
		items := make([]subscriptionView, len(subs))
		for i, s := range subs {
			items[i] = viewSubscription(s)
		}
		return http.StatusOK, store.Page[subscriptionView]{Items: items}, nil
	})
}

type publishRequest struct {
	EventType string          `json:"eventType"`
	Payload   json.RawMessage `json:"payload"`
}

// EventsPublish serves POST /events/publish: 202 once the event is stored
// and its fan-out job queued.
func EventsPublish(a *app.App) api.LambdaHandler {
	return handle(a, "events-publish", func(ctx context.Context, c *api.Call) (int, any, error) {
		var req publishRequest
		if err := c.Decode(&req); err != nil {
			return 0, nil, err
		}
		var v api.Validator
		v.Check(federation.ValidEventType(req.EventType), "eventType", "must be dot-separated lower-case words such as task.created")
		v.Check(len(req.Payload) > 0, "payload", "is required")
		rawObject(&v, "payload", req.Payload)
		if err := v.Err(); err != nil {
			return 0, nil, err
		}
		if len(req.Payload) > maxEventPayload {
			return 0, nil, api.PayloadTooLarge(maxEventPayload)
		}
		eventID, n, err := a.Events.Publish(ctx, c.Claims.Workspace, req.EventType, req.Payload)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusAccepted, map[string]any{"eventId": eventID, "deliveries": n}, nil
	})
}

// EventsMessagesList serves GET /events/messages (?status=, ?direction=, ?cursor=).
func EventsMessagesList(a *app.App) api.LambdaHandler {
	return listMessages(a, "events-messages-list", federation.TypeEvent)
}

// EventsMessagesGet serves GET /events/messages/{id}.
func EventsMessagesGet(a *app.App) api.LambdaHandler {
	return getMessage(a, "events-messages-get", federation.TypeEvent)
}

// EventsRedeliver serves POST /events/messages/{id}/redeliver: a new delivery
// of an outgoing event message, carrying replayOf.
func EventsRedeliver(a *app.App) api.LambdaHandler {
	return handle(a, "events-redeliver", func(ctx context.Context, c *api.Call) (int, any, error) {
		ws := c.Claims.Workspace
		rec, err := a.Messages.Get(ctx, ws, c.Param("id"))
		if err == nil && (rec.MessageType != federation.TypeEvent || rec.Direction != federation.Outbound) {
			err = store.ErrNotFound
		}
		if err != nil {
			return 0, nil, storeError(err, "outgoing event message")
		}
		if _, err := activeConnection(ctx, a, ws, rec.ConnectionID); err != nil {
			return 0, nil, err
		}
		created, err := a.Events.Resend(ctx, ws, []*store.MessageRecord{rec})
		if err != nil {
			return 0, nil, err
		}
		return http.StatusAccepted, map[string]any{"deliveries": 1, "messageIds": created}, nil
	})
}

type replayRequest struct {
	ConnectionID string     `json:"connectionId"`
	Since        *time.Time `json:"since"`
	Until        *time.Time `json:"until"`
	EventType    string     `json:"eventType"`
}

// EventsReplay serves POST /events/replay: the events delivered to a peer in
// a window are sent again as new deliveries, oldest first.
func EventsReplay(a *app.App) api.LambdaHandler {
	return handle(a, "events-replay", func(ctx context.Context, c *api.Call) (int, any, error) {
		var req replayRequest
		if err := c.Decode(&req); err != nil {
			return 0, nil, err
		}
		now := a.Now()
		until := now
		if req.Until != nil {
			until = *req.Until
		}
		var v api.Validator
		v.Required("connectionId", req.ConnectionID)
		v.Check(req.Since != nil, "since", "is required (RFC 3339 time)")
		v.Check(req.Since == nil || req.Since.Before(until), "since", "must be before until")
		v.Check(req.EventType == "" || federation.ValidEventPattern(req.EventType), "eventType", "must be an event type or a pattern ending in .*")
		if err := v.Err(); err != nil {
			return 0, nil, err
		}
		ws := c.Claims.Workspace
		conn, err := activeConnection(ctx, a, ws, req.ConnectionID)
		if err != nil {
			return 0, nil, err
		}
		originals, err := a.Messages.Window(ctx, ws, federation.TypeEvent, *req.Since, until, func(m *store.MessageRecord) bool {
			return m.Direction == federation.Outbound && m.ConnectionID == conn.ID && m.ReplayOf == "" &&
				(req.EventType == "" || federation.MatchEventType(req.EventType, m.EventType))
		}, maxReplay)
		if errors.Is(err, store.ErrConflict) {
			return 0, nil, api.ValidationFailed("the window holds more than %d events; replay a shorter one", maxReplay)
		}
		if err != nil {
			return 0, nil, err
		}
		if _, err := a.Events.Resend(ctx, ws, originals); err != nil {
			return 0, nil, err
		}
		c.Log.Info("replay", "connectionId", conn.ID, "deliveries", len(originals))
		return http.StatusAccepted, map[string]any{"deliveries": len(originals)}, nil
	})
}

type eventEnvelope struct {
	federation.Envelope
	federation.EventBody
}

// IncomingEvent serves POST /incoming/event: store the event (IGNORED if this
// workspace never subscribed to its type) and answer a signed EVENT_ACK.
func IncomingEvent(a *app.App) api.LambdaHandler {
	return handle(a, "incoming-event", func(ctx context.Context, c *api.Call) (int, any, error) {
		in, msg, err := verified[eventEnvelope](ctx, a, c, federation.EnvEvent)
		if err != nil {
			return 0, nil, err
		}
		var v api.Validator
		v.Check(federation.ValidEventType(msg.EventType), "eventType", "must be dot-separated lower-case words")
		rawObject(&v, "payload", msg.Payload)
		if err := v.Err(); err != nil {
			return 0, nil, err
		}
		return incoming.Respond(in, func() (store.Answer, error) {
			conn := in.Conn
			patterns, err := a.Subs.ActivePatterns(ctx, conn.WorkspaceID, conn.ID)
			if err != nil {
				return store.Answer{}, err
			}
			received := false
			for _, p := range patterns {
				if federation.MatchEventType(p, msg.EventType) {
					received = true
					break
				}
			}
			status := federation.MsgDelivered
			if !received {
				status = federation.MsgIgnored
			}
			ack, err := a.Signer.Sign(ctx, ids.Derived(conn.ID, in.MessageID, federation.EnvEventAck), federation.EnvEventAck, conn.ID,
				federation.EventAckBody{CorrelationID: in.MessageID, Received: received})
			if err != nil {
				return store.Answer{}, err
			}
			now := a.Now().UTC()
			rec := a.Messages.NewRecord(federation.Message{
				ID: in.MessageID, WorkspaceID: conn.WorkspaceID, ConnectionID: conn.ID, MessageType: federation.TypeEvent,
				Direction: federation.Inbound, Status: status, EventType: msg.EventType, Payload: msg.Payload,
				ReplayOf: msg.ReplayOf, Attempts: 1, CreatedAt: now, UpdatedAt: now, DeliveredAt: &now,
			}, "", nil, "")
			answer := store.Answer{Status: http.StatusOK, Body: string(ack)}
			if err := a.Messages.CreateIncoming(ctx, conn.WorkspaceID, conn.ID, in.MessageID, rec, answer); err != nil {
				return store.Answer{}, err
			}
			if received {
				a.ObserveEvent(ctx, rec)
			}
			return answer, nil
		})
	})
}

type ackEnvelope struct {
	federation.Envelope
	federation.EventAckBody
}

// IncomingEventAck serves POST /incoming/event/ack, for receivers that answer
// 202 and acknowledge later: the delivery becomes DELIVERED.
func IncomingEventAck(a *app.App) api.LambdaHandler {
	return handle(a, "incoming-event-ack", func(ctx context.Context, c *api.Call) (int, any, error) {
		in, msg, err := verified[ackEnvelope](ctx, a, c, federation.EnvEventAck)
		if err != nil {
			return 0, nil, err
		}
		if msg.CorrelationID == "" {
			return 0, nil, api.ValidationFailed("correlationId is required")
		}
		return incoming.Respond(in, func() (store.Answer, error) {
			conn := in.Conn
			rec, err := outgoingOn(ctx, a, conn, msg.CorrelationID, federation.TypeEvent)
			if err != nil {
				return store.Answer{}, err
			}
			resp := &federation.Response{Success: msg.Received}
			if !msg.Received {
				resp.Error = "the receiver is not subscribed to " + rec.EventType
			}
			now := a.Now().UTC()
			updated, err := a.Messages.Update(ctx, conn.WorkspaceID, rec.ID, store.MessageUpdate{
				Status: federation.MsgDelivered, From: []string{federation.MsgPending, federation.MsgRetrying},
				Response: resp, DeliveredAt: &now, ClearNext: true,
			})
			status := federation.MsgDelivered
			if errors.Is(err, store.ErrConflict) {
				status = updated.Status
			} else if err != nil {
				return store.Answer{}, err
			}
			answer, _ := incoming.AnswerJSON(http.StatusOK, map[string]string{"status": status})
			return answer, a.Messages.CreateIncoming(ctx, conn.WorkspaceID, conn.ID, in.MessageID, nil, answer)
		})
	})
}

// AgentsWatch polls the orchestrator about the agents run here for peers and
// tells each peer about status changes (scheduled every minute).
func AgentsWatch(a *app.App) ScheduledHandler {
	return func(ctx context.Context, _ events.CloudWatchEvent) error {
		return a.WatchAgents(ctx)
	}
}

// Fanout is the fanout-queue consumer.
func Fanout(a *app.App) SQSHandler {
	return jobs(a, "fanout", func(ctx context.Context, job queue.Job) error {
		return a.Events.Fanout(ctx, job)
	})
}
