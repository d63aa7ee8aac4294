package handlers

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/fedgate/fedgate/shared/app"
	"github.com/fedgate/fedgate/shared/httpapi"
	"github.com/fedgate/fedgate/shared/openapi"
)

var openapiRoutes = routeHandlers{
	"openapi-get": OpenAPI,
}

// OpenAPI serves GET /openapi.json: the OpenAPI 3.1 description of this
// API, generated from the route table and the Go types once per cold start,
// naming this instance as its server.
func OpenAPI(a *app.App) httpapi.LambdaHandler {
	doc, err := openapi.Build(openapi.Options{ServerURL: a.Config.Identity.URL})
	return handle(a, "openapi-get", func(ctx context.Context, c *httpapi.Call) (int, any, error) {
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, json.RawMessage(doc), nil
	})
}
