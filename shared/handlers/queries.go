package handlers

import (
	"context"
	"net/http"

	"github.com/fedgate/fedgate/shared/app"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/httpapi"
	"github.com/fedgate/fedgate/shared/messaging"
)

var queryRoutes = routeHandlers{
	"query-send":     QuerySend,
	"incoming-query": IncomingQuery,
	"queries-list":   QueriesList,
	"queries-get":    QueriesGet,
}

// QuerySend serves POST /query: a synchronous round trip to the peer.
func QuerySend(a *app.App) httpapi.LambdaHandler {
	return handle(a, "query-send", func(ctx context.Context, c *httpapi.Call) (int, any, error) {
		var in messaging.QueryInput
		if err := c.Decode(&in); err != nil {
			return 0, nil, err
		}
		msg, err := a.Messaging.Query(ctx, c.Claims.Workspace, in)
		return http.StatusOK, msg, err
	})
}

// IncomingQuery serves POST /incoming/query.
func IncomingQuery(a *app.App) httpapi.LambdaHandler {
	return handle(a, "incoming-query", func(ctx context.Context, c *httpapi.Call) (int, any, error) {
		return answered(a.Messaging.ReceiveQuery(ctx, c.Body()))
	})
}

// QueriesList serves GET /queries.
func QueriesList(a *app.App) httpapi.LambdaHandler {
	return listMessages(a, "queries-list", federation.TypeQuery)
}

// QueriesGet serves GET /queries/{id}.
func QueriesGet(a *app.App) httpapi.LambdaHandler {
	return getMessage(a, "queries-get", federation.TypeQuery)
}
