package handlers

import (
	"context"

	"github.com/fedgate/fedgate/shared/app"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/httpapi"
)

var defaultRoutes = routeHandlers{
	"not-found": NotFound,
}

// NotFound answers every request no route matches (API Gateway's $default
// route; the local runner's too) with 404 in the PROTOCOL.md error shape,
// so a caller never meets another body.
func NotFound(a *app.App) httpapi.LambdaHandler {
	return handle(a, "not-found", func(ctx context.Context, c *httpapi.Call) (int, any, error) {
		return 0, nil, federation.NotFoundf("no route for %s %s", c.Req.RequestContext.HTTP.Method, c.Req.RawPath)
	})
}
