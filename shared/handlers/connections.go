package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/fedgate/fedgate/shared/app"
	"github.com/fedgate/fedgate/shared/connections"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/httpapi"
)

var connectionRoutes = routeHandlers{
	"connections-initiate":      ConnectionsInitiate,
	"connections-invite":        ConnectionsInvite,
	"connections-list":          ConnectionsList,
	"connections-get":           ConnectionsGet,
	"connections-accept":        ConnectionsAccept,
	"connections-reject":        ConnectionsReject,
	"connections-disconnect":    ConnectionsDisconnect,
	"connections-suspend":       ConnectionsSuspend,
	"connections-resume":        ConnectionsResume,
	"incoming-connect":          IncomingConnect,
	"incoming-connect-response": IncomingConnectResponse,
	"incoming-disconnect":       IncomingDisconnect,
}

// connectionView is the Connection resource.
func connectionView(c *federation.Connection, now time.Time) federation.Connection {
	v := *c
	if len(v.Metadata) == 0 || string(v.Metadata) == "null" { // a client may send "metadata": null
		v.Metadata = json.RawMessage("{}")
	}
	if len(v.RemoteCapabilities) == 0 {
		v.RemoteCapabilities = json.RawMessage("{}")
	}
	v.Health = v.Health.View(now)
	return v
}

// ConnectionsInitiate serves POST /connections/initiate.
func ConnectionsInitiate(a *app.App) httpapi.LambdaHandler {
	return handle(a, "connections-initiate", func(ctx context.Context, c *httpapi.Call) (int, any, error) {
		var in connections.InitiateInput
		if err := c.Decode(&in); err != nil {
			return 0, nil, err
		}
		conn, err := a.Connections.Initiate(ctx, c.Claims.Workspace, in)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusCreated, connectionView(conn, a.Now()), nil
	})
}

// ConnectionsInvite serves POST /connections/invites (admin).
func ConnectionsInvite(a *app.App) httpapi.LambdaHandler {
	return handle(a, "connections-invite", func(ctx context.Context, c *httpapi.Call) (int, any, error) {
		var in connections.InviteInput
		if err := decodeOptional(c, &in); err != nil {
			return 0, nil, err
		}
		inv, err := a.Connections.Invite(ctx, c.Claims.Workspace, c.Claims.Subject, in)
		return http.StatusCreated, inv, err
	})
}

// ConnectionsList serves GET /connections (?status=, ?limit=, ?cursor=).
func ConnectionsList(a *app.App) httpapi.LambdaHandler {
	return handle(a, "connections-list", func(ctx context.Context, c *httpapi.Call) (int, any, error) {
		status, err := oneOf(c, "status", federation.ConnectionStatuses)
		if err != nil {
			return 0, nil, err
		}
		limit, cursor, err := listParams(c)
		if err != nil {
			return 0, nil, err
		}
		page, err := a.Connections.List(ctx, c.Claims.Workspace, status, limit, cursor)
		if err != nil {
			return 0, nil, err
		}
		now := a.Now()
		for i := range page.Items {
			page.Items[i] = connectionView(&page.Items[i], now)
		}
		return http.StatusOK, page, nil
	})
}

// ConnectionsGet serves GET /connections/{id}.
func ConnectionsGet(a *app.App) httpapi.LambdaHandler {
	return handle(a, "connections-get", func(ctx context.Context, c *httpapi.Call) (int, any, error) {
		conn, err := a.Connections.Get(ctx, c.Claims.Workspace, c.Param("id"))
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, connectionView(conn, a.Now()), nil
	})
}

// change is the shape of accept, reject, disconnect, suspend and resume.
type change func(ctx context.Context, ws, id string, in connections.ChangeInput) (*federation.Connection, error)

func changeHandler(a *app.App, name string, fn change) httpapi.LambdaHandler {
	return handle(a, name, func(ctx context.Context, c *httpapi.Call) (int, any, error) {
		var in connections.ChangeInput
		if err := decodeOptional(c, &in); err != nil {
			return 0, nil, err
		}
		conn, err := fn(ctx, c.Claims.Workspace, c.Param("id"), in)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, connectionView(conn, a.Now()), nil
	})
}

// ConnectionsAccept serves POST /connections/{id}/accept.
func ConnectionsAccept(a *app.App) httpapi.LambdaHandler {
	return changeHandler(a, "connections-accept", a.Connections.Accept)
}

// ConnectionsReject serves POST /connections/{id}/reject.
func ConnectionsReject(a *app.App) httpapi.LambdaHandler {
	return changeHandler(a, "connections-reject", a.Connections.Reject)
}

// ConnectionsDisconnect serves POST /connections/{id}/disconnect.
func ConnectionsDisconnect(a *app.App) httpapi.LambdaHandler {
	return changeHandler(a, "connections-disconnect", a.Connections.Disconnect)
}

// ConnectionsSuspend serves POST /connections/{id}/suspend (local only).
func ConnectionsSuspend(a *app.App) httpapi.LambdaHandler {
	return changeHandler(a, "connections-suspend", a.Connections.Suspend)
}

// ConnectionsResume serves POST /connections/{id}/resume (local only; resets health).
func ConnectionsResume(a *app.App) httpapi.LambdaHandler {
	return changeHandler(a, "connections-resume", a.Connections.Resume)
}

// IncomingConnect serves POST /incoming/connect.
func IncomingConnect(a *app.App) httpapi.LambdaHandler {
	return handle(a, "incoming-connect", func(ctx context.Context, c *httpapi.Call) (int, any, error) {
		answer, err := a.Connections.ReceiveConnect(ctx, c.Body())
		// CONNECT is verified by its own rules, not the Verifier's, so it is
		// counted here (the other envelopes by the Verifier).
		if e, known := federation.AsError(failure(err)); err != nil {
			code := federation.CodeInternal
			if known {
				code = e.Code
			}
			a.Metrics.Incoming(federation.EnvConnect, "refused", string(code))
		} else {
			a.Metrics.Incoming(federation.EnvConnect, "accepted", "")
		}
		return answered(answer, err)
	})
}

// IncomingConnectResponse serves POST /incoming/connect/response.
func IncomingConnectResponse(a *app.App) httpapi.LambdaHandler {
	return handle(a, "incoming-connect-response", func(ctx context.Context, c *httpapi.Call) (int, any, error) {
		return answered(a.Connections.ReceiveConnectResponse(ctx, c.Body()))
	})
}

// IncomingDisconnect serves POST /incoming/disconnect.
func IncomingDisconnect(a *app.App) httpapi.LambdaHandler {
	return handle(a, "incoming-disconnect", func(ctx context.Context, c *httpapi.Call) (int, any, error) {
		return answered(a.Connections.ReceiveDisconnect(ctx, c.Body()))
	})
}
