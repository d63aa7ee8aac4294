package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/fedgate/fedgate/shared/api"
	"github.com/fedgate/fedgate/shared/app"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/store"
)

const (
	maxQueryLen   = 10000
	maxWaitSecond = 25
)

// activeConnection loads a connection of the caller's workspace that may carry messages.
func activeConnection(ctx context.Context, a *app.App, ws, id string) (*federation.Connection, error) {
	if id == "" {
		return nil, api.ValidationFailed("connectionId is required")
	}
	conn, err := a.Connections.Get(ctx, ws, id)
	if err != nil {
		return nil, storeError(err, "connection")
	}
	if conn.Status != federation.StatusActive {
		return nil, api.Errorf(http.StatusForbidden, "connection_not_active", "connection %s is %s", id, conn.Status)
	}
	return conn, nil
}

// listMessages serves the GET lists of one message type.
func listMessages(a *app.App, name, msgType string) api.LambdaHandler {
	return handle(a, name, func(ctx context.Context, c *api.Call) (int, any, error) {
		status, err := oneOf(c, "status", federation.MessageStatuses)
		if err != nil {
			return 0, nil, err
		}
		direction, err := oneOf(c, "direction", []string{federation.Outbound, federation.Inbound})
		if err != nil {
			return 0, nil, err
		}
		limit, cursor, err := listParams(c)
		if err != nil {
			return 0, nil, err
		}
		page, err := a.Messages.List(ctx, c.Claims.Workspace, store.ListFilter{Type: msgType, Status: status, Direction: direction}, limit, cursor)
		if err != nil {
			return 0, nil, storeError(err, "message")
		}
		return http.StatusOK, page, nil
	})
}

// getMessage serves GET …/{id} for one message type; ?waitSeconds=N (≤ 25)
// waits for the message to reach a final status.
func getMessage(a *app.App, name, msgType string) api.LambdaHandler {
	return handle(a, name, func(ctx context.Context, c *api.Call) (int, any, error) {
		wait := 0
		if s := c.Query("waitSeconds"); s != "" {
			if err := json.Unmarshal([]byte(s), &wait); err != nil || wait < 0 || wait > maxWaitSecond {
				return 0, nil, api.ValidationFailed("waitSeconds must be a whole number from 0 to 25")
			}
		}
		deadline := time.Now().Add(time.Duration(wait) * time.Second)
		for {
			rec, err := a.Messages.Get(ctx, c.Claims.Workspace, c.Param("id"))
			if err == nil && rec.MessageType != msgType {
				err = store.ErrNotFound
			}
			if err != nil {
				return 0, nil, storeError(err, "message")
			}
			if federation.IsFinal(rec.Status) || !time.Now().Before(deadline) {
				return http.StatusOK, rec.Message, nil
			}
			select {
			case <-ctx.Done():
				return http.StatusOK, rec.Message, nil
			case <-time.After(250 * time.Millisecond):
			}
		}
	})
}
