package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"

	"github.com/fedgate/fedgate/shared/api"
	"github.com/fedgate/fedgate/shared/app"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/ids"
	"github.com/fedgate/fedgate/shared/incoming"
	"github.com/fedgate/fedgate/shared/peer"
	"github.com/fedgate/fedgate/shared/queue"
	"github.com/fedgate/fedgate/shared/routes"
	"github.com/fedgate/fedgate/shared/store"
)

// handle wires a Func for the named route with the App's plumbing options.
func handle(a *app.App, name string, fn api.Func) api.LambdaHandler {
	return api.Handle(routes.MustByName(name), a.APIOptions(), fn)
}

// storeError maps repository errors to PROTOCOL answers; what to call the
// missing thing is `what`.
func storeError(err error, what string) error {
	var live *store.ErrLiveConnection
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return api.NotFound("%s not found", what)
	case errors.As(err, &live):
		return api.Conflict("a live connection to this instance exists: %s", live.Existing)
	case errors.Is(err, store.ErrConflict):
		return api.Conflict("%v", err)
	case errors.Is(err, store.ErrBadCursor):
		return api.ValidationFailed("cursor is not valid for this list")
	}
	return err
}

// peerError maps a failed synchronous call to a peer to 502/504.
func peerError(err error) error {
	switch {
	case errors.Is(err, peer.ErrTimeout):
		return api.Errorf(http.StatusGatewayTimeout, "remote_timeout", "%v", err)
	case errors.Is(err, peer.ErrBadURL):
		return api.ValidationFailed("remoteUrl: %v", err)
	}
	return api.Errorf(http.StatusBadGateway, "remote_unreachable", "%v", err)
}

// remoteRejected answers a peer's error reply.
func remoteRejected(r *peer.Reply) error {
	return api.Errorf(http.StatusBadGateway, "remote_rejected", "%s", r.Describe())
}

// listParams reads ?limit= (1..100, default 25) and ?cursor=.
func listParams(c *api.Call) (int32, string, error) {
	limit := 25
	if s := c.Query("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100 {
			return 0, "", api.ValidationFailed("limit must be a whole number from 1 to 100")
		}
		limit = n
	}
	return int32(limit), c.Query("cursor"), nil
}

// oneOf validates an optional enumerated query parameter.
func oneOf(c *api.Call, name string, allowed []string) (string, error) {
	v := c.Query(name)
	if v != "" && !slices.Contains(allowed, v) {
		return "", api.ValidationFailed("%s must be one of %v", name, allowed)
	}
	return v, nil
}

// decodeOptional decodes a JSON body that may be empty.
func decodeOptional(c *api.Call, v any) error {
	if len(c.Body()) == 0 {
		return nil
	}
	return c.Decode(v)
}

// rawObject validates an optional JSON object member.
func rawObject(v *api.Validator, field string, raw json.RawMessage) {
	if len(raw) == 0 || string(raw) == "null" {
		return
	}
	var m map[string]json.RawMessage
	v.Check(json.Unmarshal(raw, &m) == nil && m != nil, field, "must be a JSON object")
}

// controlMessage prepares an outgoing control envelope (CONNECT_RESPONSE,
// DISCONNECT, …) as a message record queued for the delivery queue.
func controlMessage(a *app.App, conn *federation.Connection, envType string, body any) (*store.MessageRecord, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	now := a.Now().UTC()
	return a.Messages.NewRecord(federation.Message{
		ID: ids.New(), WorkspaceID: conn.WorkspaceID, ConnectionID: conn.ID, MessageType: envType,
		Direction: federation.Outbound, Status: federation.MsgPending, CreatedAt: now, UpdatedAt: now,
	}, envType, data, queue.Delivery), nil
}

// kick sends the job of records written inside another transaction.
func kick(ctx context.Context, a *app.App, recs ...*store.MessageRecord) {
	for _, r := range recs {
		a.Outbox.Kick(ctx, r)
	}
}

// verified runs the incoming verification for envType (on a connection in
// one of statuses; ACTIVE when none) and decodes the envelope's members into T.
func verified[T any](ctx context.Context, a *app.App, c *api.Call, envType string, statuses ...string) (*incoming.Envelope, *T, error) {
	in, err := a.Verifier.Verify(ctx, c.Body(), envType, statuses...)
	if err != nil {
		return nil, nil, err
	}
	msg := new(T)
	if err := in.Decode(msg); err != nil {
		return nil, nil, err
	}
	return in, msg, nil
}
