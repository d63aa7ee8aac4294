package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/fedgate/fedgate/shared/app"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/httpapi"
	"github.com/fedgate/fedgate/shared/routes"
	"github.com/fedgate/fedgate/shared/store"
)

// handle wires fn for the named route with the App's plumbing; what fn
// returns as an error is told to the caller as failure() says.
func handle(a *app.App, name string, fn httpapi.Func) httpapi.LambdaHandler {
	return httpapi.Handle(routes.MustByName(name), a.HTTPOptions(), func(ctx context.Context, c *httpapi.Call) (int, any, error) {
		status, body, err := fn(ctx, c)
		return status, body, failure(err)
	})
}

// failure maps the repositories' errors to PROTOCOL codes; use-case errors
// already carry theirs, anything else is a 500 whose cause only the logs see.
func failure(err error) error {
	var live *store.ErrLiveConnection
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return federation.NotFoundf("%v", err)
	case errors.As(err, &live):
		return federation.Conflictf("a live connection to this instance exists: %s", live.Existing)
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrExists):
		return federation.Conflictf("%v", err)
	case errors.Is(err, store.ErrBadCursor):
		return federation.Invalidf("cursor is not valid for this list")
	case errors.Is(err, store.ErrTooLarge):
		return federation.Errorf(federation.CodePayloadTooLarge, "%v", err)
	case errors.Is(err, store.ErrLimit):
		return federation.Errorf(federation.CodeLimitExceeded, "%v", err)
	}
	return err
}

// answered renders the answer to a signed envelope exactly as stored, so a
// duplicate gets the first answer byte for byte.
func answered(a store.Outcome, err error) (int, any, error) {
	if err != nil {
		return 0, nil, err
	}
	return a.Status, json.RawMessage(a.Body), nil
}

// listParams reads ?limit= (1..100, default 25) and ?cursor=.
func listParams(c *httpapi.Call) (int32, string, error) {
	limit := 25
	if s := c.Query("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100 {
			return 0, "", federation.Invalidf("limit must be a whole number from 1 to 100")
		}
		limit = n
	}
	return int32(limit), c.Query("cursor"), nil
}

// oneOf reads an optional enumerated query parameter.
func oneOf[T ~string](c *httpapi.Call, name string, allowed []T) (T, error) {
	v := T(c.Query(name))
	if v != "" && !slices.Contains(allowed, v) {
		return "", federation.Invalidf("%s must be one of %v", name, allowed)
	}
	return v, nil
}

// decodeOptional decodes a JSON body that may be empty.
func decodeOptional(c *httpapi.Call, v any) error {
	if len(c.Body()) == 0 {
		return nil
	}
	return c.Decode(v)
}

// waitSeconds reads ?waitSeconds= (0..25).
func waitSeconds(c *httpapi.Call) (time.Duration, error) {
	s := c.Query("waitSeconds")
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 25 {
		return 0, federation.Invalidf("waitSeconds must be a whole number from 0 to 25")
	}
	return time.Duration(n) * time.Second, nil
}

// messageAttempts serves GET …/{id}/attempts for one message type: the
// delivery attempts, oldest first.
func messageAttempts(a *app.App, name, msgType string) httpapi.LambdaHandler {
	return handle(a, name, func(ctx context.Context, c *httpapi.Call) (int, any, error) {
		limit, cursor, err := listParams(c)
		if err != nil {
			return 0, nil, err
		}
		page, err := a.Messaging.Attempts(ctx, c.Claims.Workspace, msgType, c.Param("id"), limit, cursor)
		return http.StatusOK, page, err
	})
}

// listMessages serves the GET lists of one message type.
func listMessages(a *app.App, name, msgType string) httpapi.LambdaHandler {
	return handle(a, name, func(ctx context.Context, c *httpapi.Call) (int, any, error) {
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
		page, err := a.Messaging.List(ctx, c.Claims.Workspace, store.ListFilter{Type: msgType, Status: status, Direction: direction}, limit, cursor)
		return 200, page, err
	})
}

// getMessage serves GET …/{id} for one message type; ?waitSeconds=N (≤ 25)
// waits for the message to reach a final status, at most the deployment's
// MAX_WAIT_SECONDS (the caller then gets the state it has and asks again).
func getMessage(a *app.App, name, msgType string) httpapi.LambdaHandler {
	return handle(a, name, func(ctx context.Context, c *httpapi.Call) (int, any, error) {
		wait, err := waitSeconds(c)
		if err != nil {
			return 0, nil, err
		}
		wait = min(wait, a.Config.MaxWait)
		msg, err := a.Messaging.Get(ctx, c.Claims.Workspace, msgType, c.Param("id"), wait)
		return 200, msg, err
	})
}
