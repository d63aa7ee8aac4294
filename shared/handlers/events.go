package handlers

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/fedgate/fedgate/shared/app"
	"github.com/fedgate/fedgate/shared/events"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/httpapi"
	"github.com/fedgate/fedgate/shared/routes"
	"github.com/fedgate/fedgate/shared/store"
)

var eventRoutes = routeHandlers{
	"events-subscribe":         EventsSubscribe,
	"events-unsubscribe":       EventsUnsubscribe,
	"events-subscriptions":     EventsSubscriptions,
	"events-publish":           EventsPublish,
	"events-messages-list":     EventsMessagesList,
	"events-messages-get":      EventsMessagesGet,
	"events-messages-attempts": EventsMessagesAttempts,
	"events-operations":        EventsOperations,
	"events-redeliver":         EventsRedeliver,
	"events-replay":            EventsReplay,
	"incoming-event":           IncomingEvent,
	"incoming-event-ack":       IncomingEventAck,
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

// EventsSubscribe serves POST /events/subscribe.
func EventsSubscribe(a *app.App) httpapi.LambdaHandler {
	return handle(a, "events-subscribe", func(ctx context.Context, c *httpapi.Call) (int, any, error) {
		var in events.SubscribeInput
		if err := c.Decode(&in); err != nil {
			return 0, nil, err
		}
		sub, err := a.Events.Subscribe(ctx, c.Claims.Workspace, in)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusCreated, viewSubscription(*sub), nil
	})
}

// EventsUnsubscribe serves POST /events/unsubscribe.
func EventsUnsubscribe(a *app.App) httpapi.LambdaHandler {
	return handle(a, "events-unsubscribe", func(ctx context.Context, c *httpapi.Call) (int, any, error) {
		var in events.SubscribeInput
		if err := c.Decode(&in); err != nil {
			return 0, nil, err
		}
		sub, err := a.Events.Unsubscribe(ctx, c.Claims.Workspace, in)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, viewSubscription(*sub), nil
	})
}

// EventsSubscriptions serves GET /events/subscriptions (?connectionId=, ?limit=, ?cursor=).
func EventsSubscriptions(a *app.App) httpapi.LambdaHandler {
	return handle(a, "events-subscriptions", func(ctx context.Context, c *httpapi.Call) (int, any, error) {
		limit, cursor, err := listParams(c)
		if err != nil {
			return 0, nil, err
		}
		page, err := a.Events.ListSubscriptions(ctx, c.Claims.Workspace, c.Query("connectionId"), limit, cursor)
		if err != nil {
			return 0, nil, err
		}
		items := make([]subscriptionView, len(page.Items))
		for i, s := range page.Items {
			items[i] = viewSubscription(s)
		}
		return http.StatusOK, store.Page[subscriptionView]{Items: items, NextCursor: page.NextCursor}, nil
	})
}

// EventsPublish serves POST /events/publish: 202 once the event is stored
// and its fan-out job queued.
func EventsPublish(a *app.App) httpapi.LambdaHandler {
	return handle(a, "events-publish", func(ctx context.Context, c *httpapi.Call) (int, any, error) {
		var in events.PublishInput
		if err := c.Decode(&in); err != nil {
			return 0, nil, err
		}
		published, err := a.Events.Publish(ctx, c.Claims.Workspace, in)
		return http.StatusAccepted, published, err
	})
}

// EventsMessagesList serves GET /events/messages (?status=, ?direction=, ?cursor=).
func EventsMessagesList(a *app.App) httpapi.LambdaHandler {
	return listMessages(a, "events-messages-list", federation.TypeEvent)
}

// EventsMessagesGet serves GET /events/messages/{id}.
func EventsMessagesGet(a *app.App) httpapi.LambdaHandler {
	return getMessage(a, "events-messages-get", federation.TypeEvent)
}

// EventsMessagesAttempts serves GET /events/messages/{id}/attempts (?limit=, ?cursor=).
func EventsMessagesAttempts(a *app.App) httpapi.LambdaHandler {
	return messageAttempts(a, "events-messages-attempts", federation.TypeEvent)
}

// EventsOperations serves GET /events/operations (?scope=workspace|instance,
// ?limit=, ?cursor=): the operator events of the caller's workspace, or with
// scope=instance (fedgate:instance) of the whole instance, newest first.
func EventsOperations(a *app.App) httpapi.LambdaHandler {
	return handle(a, "events-operations", func(ctx context.Context, c *httpapi.Call) (int, any, error) {
		scope, err := oneOf(c, "scope", []string{"workspace", "instance"})
		if err != nil {
			return 0, nil, err
		}
		limit, cursor, err := listParams(c)
		if err != nil {
			return 0, nil, err
		}
		ws := c.Claims.Workspace
		if scope == "instance" {
			if !c.Claims.HasScope(routes.ScopeInstance) {
				return 0, nil, federation.Forbiddenf("the instance's operations need the %s scope", routes.ScopeInstance)
			}
			ws = ""
		}
		page, err := a.Operations.List(ctx, ws, limit, cursor)
		return http.StatusOK, page, err
	})
}

// EventsRedeliver serves POST /events/messages/{id}/redeliver.
func EventsRedeliver(a *app.App) httpapi.LambdaHandler {
	return handle(a, "events-redeliver", func(ctx context.Context, c *httpapi.Call) (int, any, error) {
		id, err := a.Events.Redeliver(ctx, c.Claims.Workspace, c.Param("id"))
		if err != nil {
			return 0, nil, err
		}
		return http.StatusAccepted, map[string]any{"deliveries": 1, "messageIds": []string{id}}, nil
	})
}

// EventsReplay serves POST /events/replay.
func EventsReplay(a *app.App) httpapi.LambdaHandler {
	return handle(a, "events-replay", func(ctx context.Context, c *httpapi.Call) (int, any, error) {
		var in events.ReplayInput
		if err := c.Decode(&in); err != nil {
			return 0, nil, err
		}
		n, err := a.Events.Replay(ctx, c.Claims.Workspace, in)
		return http.StatusAccepted, map[string]any{"deliveries": n}, err
	})
}

// IncomingEvent serves POST /incoming/event: the answer is the signed EVENT_ACK.
func IncomingEvent(a *app.App) httpapi.LambdaHandler {
	return handle(a, "incoming-event", func(ctx context.Context, c *httpapi.Call) (int, any, error) {
		return answered(a.Events.Receive(ctx, c.Body()))
	})
}

// IncomingEventAck serves POST /incoming/event/ack (a late EVENT_ACK).
func IncomingEventAck(a *app.App) httpapi.LambdaHandler {
	return handle(a, "incoming-event-ack", func(ctx context.Context, c *httpapi.Call) (int, any, error) {
		return answered(a.Events.ReceiveAck(ctx, c.Body()))
	})
}
