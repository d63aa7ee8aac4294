// Package routes is THE table of fedgate's functions: every Lambda once, with
// how it is triggered and who may call it. The CDK stack and the local runner
// both build from it; functions/<Name> holds each one's main.go.
package routes

import (
	"fmt"
	"strings"
	"time"
)

// BasePath prefixes every HTTP path (PROTOCOL.md: "All paths are under …").
const BasePath = "/api/v1/federation"

// Auth is who may call an HTTP route.
type Auth string

const (
	Public Auth = "public" // anyone (GET /instance)
	User   Auth = "user"   // a valid JWT with a workspace claim
	Admin  Auth = "admin"  // a valid JWT whose roles include "admin"
	Signed Auth = "signed" // no token: the signed envelope authenticates (/incoming/*)
)

// Route is one function and its trigger: an HTTP method and path, queues
// (event source mappings), or a schedule.
type Route struct {
	Name     string   // functions/<Name>, also the Lambda's name suffix
	Method   string   // HTTP method, for HTTP routes
	Path     string   // path under BasePath with {param} segments, for HTTP routes
	Auth     Auth     // for HTTP routes
	Queues   []string // queue names (shared/queue) that trigger it, for queue consumers
	Schedule string   // EventBridge schedule expression, for scheduled functions
	// Timeout of the function; queue visibility timeouts are at least 6× it.
	Timeout time.Duration
}

// IsHTTP reports whether the route is served by the HTTP API.
func (r Route) IsHTTP() bool { return r.Method != "" }

// IsQueue reports whether the route consumes queues.
func (r Route) IsQueue() bool { return len(r.Queues) > 0 }

// IsScheduled reports whether the route runs on a schedule.
func (r Route) IsScheduled() bool { return r.Schedule != "" }

// FunctionTimeout is the route's timeout with the defaults applied: HTTP
// functions finish within API Gateway's 30 s, workers get a minute.
func (r Route) FunctionTimeout() time.Duration {
	switch {
	case r.Timeout > 0:
		return r.Timeout
	case r.IsHTTP():
		return 29 * time.Second
	}
	return time.Minute
}

// FullPath is the path including BasePath.
func (r Route) FullPath() string { return BasePath + r.Path }

// RouteKey is the API Gateway route key, e.g. "GET /api/v1/federation/instance".
func (r Route) RouteKey() string { return r.Method + " " + r.FullPath() }

// NeedsToken reports whether callers must present a JWT.
func (r Route) NeedsToken() bool { return r.Auth == User || r.Auth == Admin }

// All lists every function. Keep it grouped as PROTOCOL.md is.
var All = []Route{
	// Identity (PROTOCOL §5)
	{Name: "instance-get", Method: "GET", Path: "/instance", Auth: Public},
	{Name: "instance-update", Method: "PATCH", Path: "/instance", Auth: Admin},
	{Name: "instance-rotate-keys", Method: "POST", Path: "/instance/keys/rotate", Auth: Admin},

	// Connections (PROTOCOL §5)
	{Name: "connections-initiate", Method: "POST", Path: "/connections/initiate", Auth: User},
	{Name: "connections-invite", Method: "POST", Path: "/connections/invites", Auth: Admin},
	{Name: "connections-list", Method: "GET", Path: "/connections", Auth: User},
	{Name: "connections-get", Method: "GET", Path: "/connections/{id}", Auth: User},
	{Name: "connections-accept", Method: "POST", Path: "/connections/{id}/accept", Auth: User},
	{Name: "connections-reject", Method: "POST", Path: "/connections/{id}/reject", Auth: User},
	{Name: "connections-disconnect", Method: "POST", Path: "/connections/{id}/disconnect", Auth: User},
	{Name: "connections-suspend", Method: "POST", Path: "/connections/{id}/suspend", Auth: User},
	{Name: "connections-resume", Method: "POST", Path: "/connections/{id}/resume", Auth: User},
	{Name: "incoming-connect", Method: "POST", Path: "/incoming/connect", Auth: Signed},
	{Name: "incoming-connect-response", Method: "POST", Path: "/incoming/connect/response", Auth: Signed},
	{Name: "incoming-disconnect", Method: "POST", Path: "/incoming/disconnect", Auth: Signed},

	// QUERY (PROTOCOL §6)
	{Name: "query-send", Method: "POST", Path: "/query", Auth: User},
	{Name: "incoming-query", Method: "POST", Path: "/incoming/query", Auth: Signed},
	{Name: "queries-list", Method: "GET", Path: "/queries", Auth: User},
	{Name: "queries-get", Method: "GET", Path: "/queries/{id}", Auth: User},

	// COMMAND (PROTOCOL §7)
	{Name: "command-send", Method: "POST", Path: "/command", Auth: User},
	{Name: "incoming-command", Method: "POST", Path: "/incoming/command", Auth: Signed},
	{Name: "incoming-command-response", Method: "POST", Path: "/incoming/command/response", Auth: Signed},
	{Name: "commands-list", Method: "GET", Path: "/commands", Auth: User},
	{Name: "commands-get", Method: "GET", Path: "/commands/{id}", Auth: User},

	// Agents via federation (PROTOCOL §7)
	{Name: "agents-spawn", Method: "POST", Path: "/agents/spawn", Auth: User},
	{Name: "agents-list", Method: "GET", Path: "/agents", Auth: User},
	{Name: "agents-get", Method: "GET", Path: "/agents/{agentId}", Auth: User},
	{Name: "agents-kill", Method: "POST", Path: "/agents/{agentId}/kill", Auth: User},

	// EVENT (PROTOCOL §8)
	{Name: "events-subscribe", Method: "POST", Path: "/events/subscribe", Auth: User},
	{Name: "events-unsubscribe", Method: "POST", Path: "/events/unsubscribe", Auth: User},
	{Name: "events-subscriptions", Method: "GET", Path: "/events/subscriptions", Auth: User},
	{Name: "events-publish", Method: "POST", Path: "/events/publish", Auth: User},
	{Name: "events-messages-list", Method: "GET", Path: "/events/messages", Auth: User},
	{Name: "events-messages-get", Method: "GET", Path: "/events/messages/{id}", Auth: User},
	{Name: "events-redeliver", Method: "POST", Path: "/events/messages/{id}/redeliver", Auth: User},
	{Name: "events-replay", Method: "POST", Path: "/events/replay", Auth: User},
	{Name: "incoming-event", Method: "POST", Path: "/incoming/event", Auth: Signed},
	{Name: "incoming-event-ack", Method: "POST", Path: "/incoming/event/ack", Auth: Signed},

	// Workers
	{Name: "fanout", Queues: []string{"fanout"}, Timeout: 5 * time.Minute},
	{Name: "deliver", Queues: []string{"delivery"}},
	{Name: "ack", Queues: []string{"ack"}},
	{Name: "dispatcher", Queues: []string{"dispatch"}},
	{Name: "dlq-recorder", Queues: []string{"delivery-dlq", "ack-dlq", "dispatch-dlq", "fanout-dlq"}},
	{Name: "timeouts", Schedule: "rate(1 minute)"},
	{Name: "sweeper", Schedule: "rate(1 minute)"},
	{Name: "agents-watch", Schedule: "rate(1 minute)"},
}

// ByName returns the route named name.
func ByName(name string) (Route, bool) {
	for _, r := range All {
		if r.Name == name {
			return r, true
		}
	}
	return Route{}, false
}

// MustByName is ByName for wiring code, where a missing route is a bug.
func MustByName(name string) Route {
	r, ok := ByName(name)
	if !ok {
		panic(fmt.Sprintf("routes: no function %q", name))
	}
	return r
}

// Match finds the HTTP route for method and path (with BasePath) and returns
// its path parameters, the way API Gateway matches route keys.
func Match(method, path string) (Route, map[string]string, bool) {
	got := splitPath(path)
	for _, r := range All {
		if !r.IsHTTP() || r.Method != method {
			continue
		}
		if params, ok := matchSegments(splitPath(r.FullPath()), got); ok {
			return r, params, true
		}
	}
	return Route{}, nil, false
}

func splitPath(p string) []string {
	return strings.Split(strings.Trim(p, "/"), "/")
}

func matchSegments(pattern, got []string) (map[string]string, bool) {
	if len(pattern) != len(got) {
		return nil, false
	}
	params := map[string]string{}
	for i, seg := range pattern {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			if got[i] == "" {
				return nil, false
			}
			params[seg[1:len(seg)-1]] = got[i]
			continue
		}
		if seg != got[i] {
			return nil, false
		}
	}
	return params, true
}
