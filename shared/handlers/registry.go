package handlers

import (
	"maps"

	"github.com/fedgate/fedgate/shared/app"
	"github.com/fedgate/fedgate/shared/httpapi"
)

// routeHandlers maps route names to handler constructors; each handler file
// lists its own, next to the handlers.
type routeHandlers map[string]func(*app.App) httpapi.LambdaHandler

// HTTP maps each HTTP function's name (as in shared/routes) to its handler
// constructor (SQS and Scheduled do the same for workers, in workers.go).
// The local runner runs functions through them; a test checks that
// functions/<name>/main.go starts the very same constructor.
var HTTP = merge(instanceRoutes, connectionRoutes, queryRoutes, commandRoutes, agentRoutes, eventRoutes, openapiRoutes, defaultRoutes)

func merge(groups ...routeHandlers) routeHandlers {
	out := routeHandlers{}
	for _, g := range groups {
		maps.Copy(out, g)
	}
	return out
}
