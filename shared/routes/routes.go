package routes

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/fedgate/fedgate/shared/queue"
	"github.com/fedgate/fedgate/shared/store"
)

// BasePath prefixes every HTTP path (PROTOCOL.md: "All paths are under …").
const BasePath = "/api/v1/federation"

// Auth is who may call an HTTP route.
type Auth string

const (
	Public         Auth = "public"          // anyone (GET /instance)
	User           Auth = "user"            // a valid JWT with a workspace claim
	WorkspaceAdmin Auth = "workspace-admin" // a user with scope fedgate:admin (their own workspace)
	InstanceAdmin  Auth = "instance-admin"  // a user with scope fedgate:instance (the whole instance)
	// Operator is a user with either scope: an admin sees their workspace's
	// operations, an instance admin the instance's too.
	Operator Auth = "operator"
	Signed   Auth = "signed" // no token: the signed envelope authenticates (/incoming/*)
)

// OAuth scopes of the administration routes (PROTOCOL.md §2), matched exactly.
const (
	ScopeAdmin    = "fedgate:admin"
	ScopeInstance = "fedgate:instance"
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
	// Concurrency bounds how many invocations run at once, where one route
	// or queue could otherwise take the account's whole concurrency
	// (PROTOCOL.md §9): for a queue consumer the event source mapping's
	// maximum concurrency (the local runner's too); for an HTTP route that
	// holds its function while it waits (?waitSeconds=, a peer's answer)
	// reserved concurrency. 0: no bound of its own.
	Concurrency int
	// Access is all the function may touch: its role grants exactly this.
	Access Access
}

// Access is one function's least privilege, kept in its row so that what a
// function is and what it may touch are read and changed in one place. Names
// are shared/store table names and shared/queue queue names; a table in Write
// may also be read, so it is not repeated in Read. Triggering queues are not
// listed: consuming them comes with the trigger.
type Access struct {
	Read  []string // tables it only reads
	Write []string // tables it writes (and reads)
	Send  []string // queues it sends jobs to: work queues, or DLQs ("<name>-dlq") where it puts exhausted jobs itself
	// SigningKey is what it does with the KMS key that seals the private
	// signing keys. The identity lives in the instance table, which the first
	// function to start also writes (it creates the identity), so any use
	// goes with writing store.InstanceTable.
	SigningKey KeyUse
	Secret     bool // it reads the orchestrator API key from Secrets Manager
	// Stateless says the function touches nothing at all: what it answers is
	// built from its code (the OpenAPI document). A row without tables must
	// say so, so a forgotten grant is still caught.
	Stateless bool
}

// KeyUse is a function's use of the KMS key that seals the signing keys:
// none, sealing only (it reads the identity and may create it on first start,
// or rotates keys: kms:GenerateDataKey), or signing too (it opens the private
// key: kms:Decrypt). A function that never signs holds no Decrypt.
type KeyUse int

// Uses of the sealing key.
const (
	NoKey KeyUse = iota
	SealKey
	SignWithKey
)

// Tables lists the tables the function reads or writes, each once.
func (a Access) Tables() []string {
	var out []string
	for _, t := range append(append([]string{}, a.Read...), a.Write...) {
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// Writes reports whether the function may write table.
func (a Access) Writes(table string) bool { return slices.Contains(a.Write, table) }

// dlq names a work queue's dead-letter queue the way shared/queue does.
func dlq(name string) string { return queue.Queue{Name: name}.DLQName() }

// DefaultPath is the Path of the route that answers every request no other
// route matches (API Gateway's $default route), so callers see the
// PROTOCOL.md error body there too.
const DefaultPath = "$default"

// IsDefault reports whether the route is the $default route.
func (r Route) IsDefault() bool { return r.Path == DefaultPath }

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
func (r Route) RouteKey() string {
	if r.IsDefault() {
		return DefaultPath
	}
	return r.Method + " " + r.FullPath()
}

// NeedsToken reports whether callers must present a JWT.
func (r Route) NeedsToken() bool {
	return r.Auth == User || r.Auth == WorkspaceAdmin || r.Auth == InstanceAdmin || r.Auth == Operator
}

// Scopes are the OAuth scopes of which a caller's token must carry one;
// none when a valid token is enough.
func (r Route) Scopes() []string {
	switch r.Auth {
	case WorkspaceAdmin:
		return []string{ScopeAdmin}
	case InstanceAdmin:
		return []string{ScopeInstance}
	case Operator:
		return []string{ScopeAdmin, ScopeInstance}
	}
	return nil
}

// All lists every function. Keep it grouped as PROTOCOL.md is.
var All = []Route{
	// Identity (PROTOCOL §5)
	{Name: "instance-get", Method: "GET", Path: "/instance", Auth: Public,
		Access: Access{Write: []string{store.InstanceTable}, SigningKey: SealKey}},
	{Name: "instance-update", Method: "PATCH", Path: "/instance", Auth: InstanceAdmin,
		Access: Access{Write: []string{store.InstanceTable}, SigningKey: SealKey}},
	{Name: "instance-rotate-keys", Method: "POST", Path: "/instance/keys/rotate", Auth: InstanceAdmin,
		// messages: the operator event federation.key.rotated.
		Access: Access{Write: []string{store.InstanceTable, store.MessagesTable}, SigningKey: SealKey}},

	// Connections (PROTOCOL §5)
	{Name: "connections-initiate", Method: "POST", Path: "/connections/initiate", Auth: WorkspaceAdmin, Concurrency: 10,
		Access: Access{Write: []string{store.InstanceTable, store.ConnectionsTable}, SigningKey: SignWithKey}},
	{Name: "connections-invite", Method: "POST", Path: "/connections/invites", Auth: WorkspaceAdmin,
		Access: Access{Write: []string{store.InvitesTable}}},
	{Name: "connections-list", Method: "GET", Path: "/connections", Auth: User,
		Access: Access{Read: []string{store.ConnectionsTable}}},
	{Name: "connections-get", Method: "GET", Path: "/connections/{id}", Auth: User,
		Access: Access{Read: []string{store.ConnectionsTable}}},
	{Name: "connections-accept", Method: "POST", Path: "/connections/{id}/accept", Auth: WorkspaceAdmin,
		Access: Access{
			Write:      []string{store.InstanceTable, store.ConnectionsTable, store.MessagesTable},
			Send:       []string{queue.Delivery},
			SigningKey: SealKey,
		}},
	{Name: "connections-reject", Method: "POST", Path: "/connections/{id}/reject", Auth: WorkspaceAdmin,
		Access: Access{
			Write:      []string{store.InstanceTable, store.ConnectionsTable, store.MessagesTable},
			Send:       []string{queue.Delivery},
			SigningKey: SealKey,
		}},
	{Name: "connections-disconnect", Method: "POST", Path: "/connections/{id}/disconnect", Auth: WorkspaceAdmin,
		Access: Access{
			Write:      []string{store.InstanceTable, store.ConnectionsTable, store.MessagesTable},
			Send:       []string{queue.Delivery},
			SigningKey: SealKey,
		}},
	{Name: "connections-suspend", Method: "POST", Path: "/connections/{id}/suspend", Auth: WorkspaceAdmin,
		// messages: the operator event federation.connection.suspended.
		Access: Access{Write: []string{store.ConnectionsTable, store.MessagesTable}}},
	{Name: "connections-resume", Method: "POST", Path: "/connections/{id}/resume", Auth: WorkspaceAdmin,
		// Resuming syncs subscriptions (event.sync, a COMMAND) and catches the
		// peer up from the event log (a fanout job), and records an operator event.
		Access: Access{
			Write: []string{store.ConnectionsTable, store.MessagesTable, store.SubscriptionsTable},
			Send:  []string{queue.Delivery, queue.Ack, queue.Fanout},
		}},
	{Name: "incoming-connect", Method: "POST", Path: "/incoming/connect", Auth: Signed,
		Access: Access{Write: []string{store.InstanceTable, store.ConnectionsTable, store.InvitesTable, store.MessagesTable}, SigningKey: SignWithKey}},
	{Name: "incoming-connect-response", Method: "POST", Path: "/incoming/connect/response", Auth: Signed,
		Access: Access{Write: []string{store.InstanceTable, store.ConnectionsTable, store.MessagesTable}, SigningKey: SealKey}},
	{Name: "incoming-disconnect", Method: "POST", Path: "/incoming/disconnect", Auth: Signed,
		Access: Access{Write: []string{store.InstanceTable, store.ConnectionsTable, store.MessagesTable}, SigningKey: SealKey}},

	// QUERY (PROTOCOL §6)
	{Name: "query-send", Method: "POST", Path: "/query", Auth: User, Concurrency: 20,
		Access: Access{Read: []string{store.ConnectionsTable}, Write: []string{store.InstanceTable, store.MessagesTable}, SigningKey: SignWithKey}},
	{Name: "incoming-query", Method: "POST", Path: "/incoming/query", Auth: Signed, Concurrency: 20,
		Access: Access{
			Read:       []string{store.SubscriptionsTable},
			Write:      []string{store.InstanceTable, store.ConnectionsTable, store.MessagesTable},
			SigningKey: SignWithKey,
		}},
	{Name: "queries-list", Method: "GET", Path: "/queries", Auth: User,
		Access: Access{Read: []string{store.MessagesTable}}},
	{Name: "queries-get", Method: "GET", Path: "/queries/{id}", Auth: User, Concurrency: 20,
		Access: Access{Read: []string{store.MessagesTable}}},

	// COMMAND (PROTOCOL §7)
	{Name: "command-send", Method: "POST", Path: "/command", Auth: User,
		Access: Access{Read: []string{store.ConnectionsTable}, Write: []string{store.MessagesTable}, Send: []string{queue.Delivery}}},
	{Name: "incoming-command", Method: "POST", Path: "/incoming/command", Auth: Signed,
		Access: Access{
			Write:      []string{store.InstanceTable, store.ConnectionsTable, store.MessagesTable},
			Send:       []string{queue.Dispatch},
			SigningKey: SealKey,
		}},
	{Name: "incoming-command-response", Method: "POST", Path: "/incoming/command/response", Auth: Signed,
		// subscriptions: the publisher's answer to event.subscribe/sync is
		// recorded as the subscription's syncedAt.
		Access: Access{Write: []string{store.InstanceTable, store.ConnectionsTable, store.MessagesTable, store.AgentsTable, store.SubscriptionsTable}, SigningKey: SealKey}},
	{Name: "commands-list", Method: "GET", Path: "/commands", Auth: User,
		Access: Access{Read: []string{store.MessagesTable}}},
	{Name: "commands-get", Method: "GET", Path: "/commands/{id}", Auth: User, Concurrency: 20,
		Access: Access{Read: []string{store.MessagesTable}}},
	{Name: "commands-attempts", Method: "GET", Path: "/commands/{id}/attempts", Auth: User,
		Access: Access{Read: []string{store.MessagesTable}}},

	// Agents via federation (PROTOCOL §7)
	{Name: "agents-spawn", Method: "POST", Path: "/agents/spawn", Auth: User,
		Access: Access{
			Read:  []string{store.ConnectionsTable},
			Write: []string{store.MessagesTable, store.SubscriptionsTable},
			Send:  []string{queue.Delivery},
		}},
	{Name: "agents-list", Method: "GET", Path: "/agents", Auth: User,
		Access: Access{Read: []string{store.AgentsTable}}},
	{Name: "agents-get", Method: "GET", Path: "/agents/{agentId}", Auth: User,
		Access: Access{
			Read:  []string{store.ConnectionsTable, store.AgentsTable},
			Write: []string{store.MessagesTable},
			Send:  []string{queue.Delivery},
		}},
	{Name: "agents-kill", Method: "POST", Path: "/agents/{agentId}/kill", Auth: User,
		Access: Access{
			Read:  []string{store.ConnectionsTable, store.AgentsTable},
			Write: []string{store.MessagesTable},
			Send:  []string{queue.Delivery},
		}},

	// EVENT (PROTOCOL §8)
	{Name: "events-subscribe", Method: "POST", Path: "/events/subscribe", Auth: User,
		Access: Access{
			Read:  []string{store.ConnectionsTable},
			Write: []string{store.SubscriptionsTable, store.MessagesTable},
			Send:  []string{queue.Delivery},
		}},
	{Name: "events-unsubscribe", Method: "POST", Path: "/events/unsubscribe", Auth: User,
		Access: Access{
			Read:  []string{store.ConnectionsTable},
			Write: []string{store.SubscriptionsTable, store.MessagesTable},
			Send:  []string{queue.Delivery},
		}},
	{Name: "events-subscriptions", Method: "GET", Path: "/events/subscriptions", Auth: User,
		Access: Access{Read: []string{store.SubscriptionsTable}}},
	{Name: "events-publish", Method: "POST", Path: "/events/publish", Auth: User,
		Access: Access{
			Read:  []string{store.ConnectionsTable, store.SubscriptionsTable},
			Write: []string{store.MessagesTable},
			Send:  []string{queue.Fanout},
		}},
	{Name: "events-messages-list", Method: "GET", Path: "/events/messages", Auth: User,
		Access: Access{Read: []string{store.MessagesTable}}},
	{Name: "events-messages-get", Method: "GET", Path: "/events/messages/{id}", Auth: User,
		Access: Access{Read: []string{store.MessagesTable}}},
	{Name: "events-messages-attempts", Method: "GET", Path: "/events/messages/{id}/attempts", Auth: User,
		Access: Access{Read: []string{store.MessagesTable}}},
	// Operator events (PROTOCOL.md §8–9): the workspace's, or with
	// ?scope=instance the whole instance's (fedgate:instance).
	{Name: "events-operations", Method: "GET", Path: "/events/operations", Auth: Operator,
		Access: Access{Read: []string{store.MessagesTable}}},
	{Name: "events-redeliver", Method: "POST", Path: "/events/messages/{id}/redeliver", Auth: User,
		Access: Access{Read: []string{store.ConnectionsTable}, Write: []string{store.MessagesTable}, Send: []string{queue.Delivery}}},
	{Name: "events-replay", Method: "POST", Path: "/events/replay", Auth: WorkspaceAdmin,
		// The window is counted here and sent page by page by a fanout job.
		Access: Access{Read: []string{store.ConnectionsTable, store.SubscriptionsTable}, Write: []string{store.MessagesTable}, Send: []string{queue.Fanout}}},
	{Name: "incoming-event", Method: "POST", Path: "/incoming/event", Auth: Signed,
		Access: Access{
			Read:       []string{store.SubscriptionsTable},
			Write:      []string{store.InstanceTable, store.ConnectionsTable, store.MessagesTable, store.AgentsTable},
			SigningKey: SignWithKey,
		}},
	{Name: "incoming-event-ack", Method: "POST", Path: "/incoming/event/ack", Auth: Signed,
		Access: Access{Write: []string{store.InstanceTable, store.ConnectionsTable, store.MessagesTable}, SigningKey: SealKey}},

	// This API's OpenAPI 3.1 description (shared/openapi)
	{Name: "openapi-get", Method: "GET", Path: "/openapi.json", Auth: Public, Access: Access{Stateless: true}},

	// Every request no route above matches (any method, any path).
	{Name: "not-found", Method: "ANY", Path: DefaultPath, Auth: Public, Access: Access{Stateless: true}},

	// Workers
	{Name: "fanout", Queues: []string{queue.Fanout}, Timeout: 5 * time.Minute, Concurrency: 5,
		Access: Access{
			Read:  []string{store.ConnectionsTable, store.SubscriptionsTable},
			Write: []string{store.MessagesTable},
			Send:  []string{queue.Fanout, queue.Delivery},
		}},
	{Name: "deliver", Queues: []string{queue.Delivery}, Concurrency: 50,
		Access: Access{
			Read:       []string{store.SubscriptionsTable},
			Write:      []string{store.InstanceTable, store.ConnectionsTable, store.MessagesTable},
			Send:       []string{queue.Delivery, dlq(queue.Delivery), queue.Fanout},
			SigningKey: SignWithKey,
		}},
	{Name: "ack", Queues: []string{queue.Ack}, Concurrency: 20,
		Access: Access{
			Read:       []string{store.SubscriptionsTable},
			Write:      []string{store.InstanceTable, store.ConnectionsTable, store.MessagesTable},
			Send:       []string{queue.Ack, dlq(queue.Ack), queue.Fanout},
			SigningKey: SignWithKey,
		}},
	{Name: "dispatcher", Queues: []string{queue.Dispatch}, Concurrency: 10,
		// event.sync from a peer releases the deliveries held for it: a claim
		// on the connection, the held messages, their jobs.
		Access: Access{
			Write:  []string{store.ConnectionsTable, store.MessagesTable, store.SubscriptionsTable, store.AgentsTable},
			Send:   []string{queue.Dispatch, queue.Ack, queue.Delivery},
			Secret: true,
		}},
	{Name: "dlq-recorder", Queues: []string{dlq(queue.Delivery), dlq(queue.Ack), dlq(queue.Dispatch), dlq(queue.Fanout)}, Concurrency: 2,
		Access: Access{Write: []string{store.MessagesTable}}},
	{Name: "timeouts", Schedule: "rate(1 minute)",
		Access: Access{
			Write:      []string{store.InstanceTable, store.ConnectionsTable, store.MessagesTable},
			Send:       []string{queue.Delivery},
			SigningKey: SealKey,
		}},
	{Name: "sweeper", Schedule: "rate(1 minute)",
		// Besides re-sending owed jobs it sends the daily event.sync, and once
		// puts connections stored before the newest-first index on it.
		Access: Access{
			Write: []string{store.ConnectionsTable, store.MessagesTable, store.SubscriptionsTable},
			Send:  []string{queue.Delivery, queue.Ack, queue.Dispatch, queue.Fanout},
		}},
	{Name: "agents-watch", Schedule: "rate(1 minute)",
		Access: Access{
			Read:   []string{store.SubscriptionsTable},
			Write:  []string{store.AgentsTable, store.MessagesTable},
			Send:   []string{queue.Delivery},
			Secret: true,
		}},
}

// Every function with a caller (users, limited per workspace; peers,
// limited per connection) and every function that delivers to peers (it
// holds a peer's in-flight slots) writes the shared limits (PROTOCOL.md §9).
// They are added here rather than in each row so that no row can forget them.
func init() {
	for i, r := range All {
		if r.limited() {
			All[i].Access.Write = append(All[i].Access.Write, store.LimitsTable)
		}
	}
}

func (r Route) limited() bool {
	return r.NeedsToken() || r.Auth == Signed || slices.Contains(r.Queues, queue.Delivery) || slices.Contains(r.Queues, queue.Ack)
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
		if !r.IsHTTP() || r.IsDefault() || r.Method != method {
			continue
		}
		if params, ok := matchSegments(splitPath(r.FullPath()), got); ok {
			return r, params, true
		}
	}
	return Route{}, nil, false
}

// Default is the $default route: what answers when Match finds nothing.
func Default() Route {
	for _, r := range All {
		if r.IsDefault() {
			return r
		}
	}
	panic("routes: no $default route")
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
