package openapi

import (
	"net/http"
	"reflect"

	"github.com/fedgate/fedgate/shared/agents"
	"github.com/fedgate/fedgate/shared/connections"
	"github.com/fedgate/fedgate/shared/events"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/identity"
	"github.com/fedgate/fedgate/shared/messaging"
	"github.com/fedgate/fedgate/shared/store"
)

// Operation is what the document says about one HTTP route beyond its row
// in routes.All (method, path, auth): the body it decodes, its success
// answers and the query parameters it reads.
type Operation struct {
	Summary string
	Tag     string
	// Body is the Go type the handler decodes the JSON body into (nil: none).
	Body reflect.Type
	// BodyOptional: the handler accepts an empty body.
	BodyOptional bool
	// Required lists the body members the use case requires (Go's decoder
	// itself requires none).
	Required []string
	// Envelope is the signed envelope type an /incoming/* route takes.
	Envelope string
	Query    []Param
	// Answers are the success answers; every error answer has the PROTOCOL
	// error body.
	Answers []Success
	// Errors are the error codes worth naming for this route beyond those
	// every route of its kind may answer.
	Errors []federation.Code
}

// Success is one success answer: a Go type, a signed envelope, or a literal schema.
type Success struct {
	Status      int
	Type        reflect.Type
	Envelope    string
	Schema      Schema
	Description string
}

// Param is one query parameter.
type Param struct {
	Name        string
	Description string
	Schema      Schema
	Required    bool
}

func typeOf[T any]() reflect.Type { return reflect.TypeFor[T]() }

func ok[T any](status int, description string) Success {
	return Success{Status: status, Type: typeOf[T](), Description: description}
}

func signed(status int, envelope, description string) Success {
	return Success{Status: status, Envelope: envelope, Description: description}
}

// Query parameters shared by lists.
var (
	limitParam  = Param{Name: "limit", Description: "page size", Schema: Schema{"type": "integer", "minimum": 1, "maximum": 100, "default": 25}}
	cursorParam = Param{Name: "cursor", Description: "the nextCursor of the previous page (opaque)", Schema: Schema{"type": "string"}}
	waitParam   = Param{Name: "waitSeconds", Description: "wait up to N seconds for a final status",
		Schema: Schema{"type": "integer", "minimum": 0, "maximum": 25}}
	directionParam = Param{Name: "direction", Schema: enum(federation.Outbound, federation.Inbound)}
)

func statusParam(values ...string) Param {
	return Param{Name: "status", Description: "only items with this status", Schema: enum(values...)}
}

func connectionParam(required bool, description string) Param {
	return Param{Name: "connectionId", Description: description, Schema: Schema{"type": "string"}, Required: required}
}

func enum(values ...string) Schema { return Schema{"type": "string", "enum": values} }

// texts turns a list of statuses into their names.
func texts[T ~string](values []T) []string {
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = string(v)
	}
	return out
}

var messageList = Operation{
	Query:   []Param{statusParam(texts(federation.MessageStatuses)...), directionParam, limitParam, cursorParam},
	Answers: []Success{ok[store.Page[federation.Message]](http.StatusOK, "one page of messages, newest first")},
}

var messageGet = Operation{
	Query:   []Param{waitParam},
	Answers: []Success{ok[federation.Message](http.StatusOK, "the message")},
	Errors:  []federation.Code{federation.CodeNotFound},
}

var messageAttempts = Operation{
	Query:   []Param{limitParam, cursorParam},
	Answers: []Success{ok[store.Page[federation.Attempt]](http.StatusOK, "one page of delivery attempts, oldest first (PROTOCOL.md §9)")},
	Errors:  []federation.Code{federation.CodeNotFound},
}

func with(op Operation, tag, summary string) Operation {
	op.Tag, op.Summary = tag, summary
	return op
}

// Tags of the document, in PROTOCOL.md's order.
var Tags = []Schema{
	{"name": "instance", "description": "Identity and keys (PROTOCOL.md §5)"},
	{"name": "connections", "description": "Connections and the handshake (PROTOCOL.md §5)"},
	{"name": "queries", "description": "QUERY (PROTOCOL.md §6)"},
	{"name": "commands", "description": "COMMAND (PROTOCOL.md §7)"},
	{"name": "agents", "description": "Agents via federation (PROTOCOL.md §7)"},
	{"name": "events", "description": "EVENT, subscriptions, replay (PROTOCOL.md §8)"},
	{"name": "incoming", "description": "What peers send: signed envelopes (PROTOCOL.md §3–§8)"},
	{"name": "meta", "description": "This description"},
}

// Operations describes every HTTP route of routes.All, by method and path
// (under the base path). A route added to the table needs an entry here:
// TestEveryRouteHasAnOperation fails otherwise.
var Operations = map[string]Operation{
	// Identity (PROTOCOL §5)
	"GET /instance": {Tag: "instance", Summary: "The public identity of this instance: its id, URL and keys",
		Answers: []Success{ok[identity.Document](http.StatusOK, "the identity document")}},
	"PATCH /instance": {Tag: "instance", Summary: "Change the name, capabilities or metadata",
		Body: typeOf[identity.Patch](), Answers: []Success{ok[identity.Document](http.StatusOK, "the changed identity document")},
		Errors: []federation.Code{federation.CodeConflict}},
	"POST /instance/keys/rotate": {Tag: "instance", Summary: "Rotate the signing key (the old key stays published as retired for 7 days; with revoke it is withdrawn at once)",
		Body: typeOf[identity.RotateInput](), BodyOptional: true,
		Answers: []Success{ok[identity.Document](http.StatusOK, "the identity document with the new current key")},
		Errors:  []federation.Code{federation.CodeConflict}},

	// Connections (PROTOCOL §5)
	"POST /connections/initiate": {Tag: "connections", Summary: "Connect to a remote instance (CONNECT), with an invite token if it gave one",
		Body: typeOf[connections.InitiateInput](), Required: []string{"remoteUrl"},
		Answers: []Success{ok[federation.Connection](http.StatusCreated, "the connection: PENDING, or ACTIVE when the invite auto-accepts")},
		Errors: []federation.Code{federation.CodeConflict, federation.CodeRemoteUnreachable, federation.CodeRemoteRejected,
			federation.CodeRemoteTimeout}},
	"POST /connections/invites": {Tag: "connections", Summary: "Create a single-use invite to this workspace",
		Body: typeOf[connections.InviteInput](), BodyOptional: true,
		Answers: []Success{ok[connections.Invite](http.StatusCreated, "the invite token and when it expires")}},
	"GET /connections": {Tag: "connections", Summary: "List the workspace's connections",
		Query:   []Param{statusParam(texts(federation.ConnectionStatuses)...), limitParam, cursorParam},
		Answers: []Success{ok[store.Page[federation.Connection]](http.StatusOK, "one page of connections")}},
	"GET /connections/{id}": {Tag: "connections", Summary: "One connection",
		Answers: []Success{ok[federation.Connection](http.StatusOK, "the connection")},
		Errors:  []federation.Code{federation.CodeNotFound}},
	"POST /connections/{id}/accept": change("Accept an INBOUND PENDING connection (sends CONNECT_RESPONSE accepted=true)"),
	"POST /connections/{id}/reject": func() Operation {
		op := change("Reject an INBOUND PENDING connection (sends CONNECT_RESPONSE accepted=false)")
		op.BodyOptional, op.Required = false, []string{"reason"}
		return op
	}(),
	"POST /connections/{id}/disconnect": change("End a connection (sends DISCONNECT)"),
	"POST /connections/{id}/suspend":    change("Suspend a connection locally: it accepts and sends nothing"),
	"POST /connections/{id}/resume":     change("Resume a SUSPENDED connection (resets its health, catches up)"),
	"POST /incoming/connect": {Tag: "incoming", Summary: "A peer's CONNECT",
		Envelope: federation.EnvConnect,
		Answers: []Success{
			signed(http.StatusOK, federation.EnvConnectResponse, "with a valid invite: ACTIVE, and the signed CONNECT_RESPONSE"),
			ok[Status](http.StatusAccepted, "without an invite: PENDING until a user accepts"),
		},
		Errors: []federation.Code{federation.CodeForbidden, federation.CodeLimitExceeded, federation.CodeConflict, federation.CodeRemoteUnreachable}},
	"POST /incoming/connect/response": incoming(federation.EnvConnectResponse, "A peer's CONNECT_RESPONSE to our CONNECT",
		ok[Status](http.StatusOK, "the connection's status")),
	"POST /incoming/disconnect": incoming(federation.EnvDisconnect, "A peer's DISCONNECT",
		ok[Status](http.StatusOK, "DISCONNECTED")),

	// QUERY (PROTOCOL §6)
	"POST /query": {Tag: "queries", Summary: "Send a QUERY and wait for the answer",
		Body: typeOf[messaging.QueryInput](), Required: []string{"connectionId", "query"},
		Answers: []Success{ok[federation.Message](http.StatusOK, "the message with the peer's response")},
		Errors: []federation.Code{federation.CodeNotFound, federation.CodeNotActive, federation.CodeQueryNotAllowed,
			federation.CodeRemoteUnreachable, federation.CodeRemoteRejected, federation.CodeRemoteTimeout}},
	"POST /incoming/query": incoming(federation.EnvQuery, "A peer's QUERY",
		signed(http.StatusOK, federation.EnvQueryResponse, "the signed QUERY_RESPONSE"), federation.CodeQueryNotAllowed),
	"GET /queries":      with(messageList, "queries", "List queries"),
	"GET /queries/{id}": with(messageGet, "queries", "One query"),

	// COMMAND (PROTOCOL §7)
	"POST /command": {Tag: "commands", Summary: "Send a COMMAND; its response arrives later",
		Body: typeOf[messaging.CommandInput](), Required: []string{"connectionId", "commandType"},
		Answers: []Success{ok[federation.Message](http.StatusAccepted, "the PENDING command")},
		Errors:  []federation.Code{federation.CodeNotFound, federation.CodeNotActive, federation.CodeCommandNotAllowed}},
	"POST /incoming/command": incoming(federation.EnvCommand, "A peer's COMMAND",
		ok[CommandAccepted](http.StatusAccepted, "stored and queued; the COMMAND_RESPONSE follows"), federation.CodeCommandNotAllowed),
	"POST /incoming/command/response": incoming(federation.EnvCommandResponse, "A peer's COMMAND_RESPONSE to our COMMAND",
		ok[Status](http.StatusOK, "the command's status"), federation.CodeNotFound),
	"GET /commands":      with(messageList, "commands", "List commands"),
	"GET /commands/{id}": with(messageGet, "commands", "One command (waitSeconds waits for its response)"),
	"GET /commands/{id}/attempts": with(messageAttempts, "commands",
		"The delivery attempts of a command (of an incoming one: of its COMMAND_RESPONSE)"),

	// Agents via federation (PROTOCOL §7)
	"POST /agents/spawn": {Tag: "agents", Summary: "Spawn an agent on a peer (agent.spawn)",
		Body: typeOf[agents.SpawnInput](), Required: []string{"connectionId", "taskId", "agentType", "context"},
		Answers: []Success{ok[federation.Message](http.StatusAccepted, "the PENDING agent.spawn command")},
		Errors:  []federation.Code{federation.CodeNotFound, federation.CodeNotActive}},
	"GET /agents": {Tag: "agents", Summary: "Agents known from the peers' answers",
		Query:   []Param{connectionParam(false, "only agents on this connection"), limitParam, cursorParam},
		Answers: []Success{ok[store.Page[federation.Agent]](http.StatusOK, "one page of agents")}},
	"GET /agents/{agentId}": {Tag: "agents", Summary: "Ask a peer about an agent (agent.status)",
		Query:   []Param{connectionParam(true, "the connection the agent runs on")},
		Answers: []Success{ok[federation.Message](http.StatusAccepted, "the PENDING agent.status command")},
		Errors:  []federation.Code{federation.CodeNotFound, federation.CodeNotActive}},
	"POST /agents/{agentId}/kill": {Tag: "agents", Summary: "Kill an agent on a peer (agent.kill)",
		Body: typeOf[AgentKillInput](), Required: []string{"connectionId"},
		Answers: []Success{ok[federation.Message](http.StatusAccepted, "the PENDING agent.kill command")},
		Errors:  []federation.Code{federation.CodeNotFound, federation.CodeNotActive}},

	// EVENT (PROTOCOL §8)
	"POST /events/subscribe": {Tag: "events", Summary: "Subscribe to a peer's events (sends event.subscribe)",
		Body: typeOf[events.SubscribeInput](), Required: []string{"connectionId", "eventType"},
		Answers: []Success{ok[Subscription](http.StatusCreated, "the subscription")},
		Errors:  []federation.Code{federation.CodeNotFound, federation.CodeNotActive, federation.CodeLimitExceeded}},
	"POST /events/unsubscribe": {Tag: "events", Summary: "Unsubscribe (sends event.unsubscribe)",
		Body: typeOf[events.SubscribeInput](), Required: []string{"connectionId", "eventType"},
		Answers: []Success{ok[Subscription](http.StatusOK, "the inactive subscription")},
		Errors:  []federation.Code{federation.CodeNotFound}},
	"GET /events/subscriptions": {Tag: "events", Summary: "Subscriptions made here (OUTBOUND) and by peers (INBOUND)",
		Query:   []Param{connectionParam(false, "only subscriptions on this connection")},
		Answers: []Success{ok[store.Page[Subscription]](http.StatusOK, "the subscriptions")}},
	"POST /events/publish": {Tag: "events", Summary: "Publish an event to the subscribed peers",
		Body: typeOf[events.PublishInput](), Required: []string{"eventType"},
		Answers: []Success{ok[events.Published](http.StatusAccepted, "stored and handed to the fan-out")}},
	"GET /events/messages":               with(messageList, "events", "List event messages (deliveries and received events)"),
	"GET /events/messages/{id}":          with(messageGet, "events", "One event message"),
	"GET /events/messages/{id}/attempts": with(messageAttempts, "events", "The delivery attempts of an outgoing event message"),
	"GET /events/operations": {Tag: "events", Summary: "Operator events: the workspace's, or the instance's with scope=instance",
		Query: []Param{{Name: "scope", Description: "instance (fedgate:instance) or workspace (the default)", Schema: enum("workspace", "instance")},
			limitParam, cursorParam},
		Answers: []Success{ok[store.Page[federation.Operation]](http.StatusOK, "one page of operator events, newest first")},
		Errors:  []federation.Code{federation.CodeForbidden}},
	"POST /events/messages/{id}/redeliver": {Tag: "events", Summary: "Send one event message again, as a new delivery",
		Answers: []Success{ok[Redelivered](http.StatusAccepted, "the new delivery")},
		Errors:  []federation.Code{federation.CodeNotFound, federation.CodeNotActive}},
	"POST /events/replay": {Tag: "events", Summary: "Send a peer the events of a window again",
		Body: typeOf[events.ReplayInput](), Required: []string{"connectionId", "since"},
		Answers: []Success{ok[Replayed](http.StatusAccepted, "how many deliveries; they are sent in the background")},
		Errors:  []federation.Code{federation.CodeNotFound, federation.CodeNotActive}},
	"POST /incoming/event": incoming(federation.EnvEvent, "A peer's EVENT",
		signed(http.StatusOK, federation.EnvEventAck, "the signed EVENT_ACK (received=false for a type never subscribed to)")),
	"POST /incoming/event/ack": incoming(federation.EnvEventAck, "A peer's late EVENT_ACK (after it answered 202)",
		ok[Status](http.StatusOK, "the delivery's status"), federation.CodeNotFound),

	// This document
	"GET /openapi.json": {Tag: "meta", Summary: "This OpenAPI 3.1 description, generated from the route table and the Go types",
		Answers: []Success{{Status: http.StatusOK, Description: "the OpenAPI document", Schema: Schema{
			"type": "object", "required": []string{"openapi", "info", "paths", "components"},
			"properties": Schema{"openapi": Schema{"type": "string", "const": Version}}, "additionalProperties": true,
		}}}},
}

// change is the shape of accept, reject, disconnect, suspend and resume.
func change(summary string) Operation {
	return Operation{Tag: "connections", Summary: summary,
		Body: typeOf[connections.ChangeInput](), BodyOptional: true,
		Answers: []Success{ok[federation.Connection](http.StatusOK, "the connection in its new status")},
		Errors:  []federation.Code{federation.CodeNotFound, federation.CodeConflict}}
}

func incoming(envelope, summary string, a Success, codes ...federation.Code) Operation {
	return Operation{Tag: "incoming", Summary: summary, Envelope: envelope, Answers: []Success{a}, Errors: codes}
}

// Refinements add what a Go type cannot say (allowed values, bounds) to a
// member, keyed by "GoTypeName.member"; a test checks that each one still
// names a member. Every json.RawMessage member needs one: its Go type says
// nothing of its shape, and TestEverySchemaHasAType fails without it.
var Refinements = map[string]Schema{
	"Connection.status":             enum(texts(federation.ConnectionStatuses)...),
	"Connection.direction":          enum(federation.Outbound, federation.Inbound),
	"Connection.metadata":           object(), // the view answers {} for none
	"Connection.remoteCapabilities": objectOrNull("the capabilities of the peer's CONNECT or CONNECT_RESPONSE, as it sent them"),
	"Message.messageType":           enum(federation.TypeQuery, federation.TypeCommand, federation.TypeEvent),
	"Message.direction":             enum(federation.Outbound, federation.Inbound),
	"Message.status":                enum(texts(federation.MessageStatuses)...),
	"Message.context":               objectOrNull("the QUERY's context, as it was sent"),
	"Message.payload":               objectOrNull("the COMMAND's or EVENT's payload, as it was sent"),
	"Response.data":                 anyJSON("what the peer's query or command handler answered"),
	"Operation.detail":              object(),
	"Health.circuit":                enum(federation.CircuitClosed, federation.CircuitOpen, federation.CircuitHalfOpen),
	"Subscription.filter":           object(), // the content filter (PROTOCOL.md §8)
	"Subscription.direction":        enum(federation.Outbound, federation.Inbound),
	"Subscription.metadata":         object(), // the view answers {} for none
	"Agent.status":                  enum(federation.AgentStatuses...),
	"Agent.agentType":               enum(federation.AgentTypes...),
	"PublicKey.alg":                 enum("RS256", "EdDSA"),
	"PublicKey.status":              enum(identity.KeyCurrent, identity.KeyRetired),
	"RemoteKey.alg":                 enum("RS256", "EdDSA"),
	"Capabilities.protocolVersion":  Schema{"const": identity.ProtocolVersion},
	"Document.metadata":             object(),
	"ErrorDetail.code":              Schema{"enum": codeNames()},
	"InviteInput.expiresInSeconds":  Schema{"minimum": 60, "maximum": 86400, "default": 900},

	// Envelope members (PROTOCOL.md §5–§8).
	"ConnectBody.capabilities":         objectOrNull("the sender's capabilities: protocolVersion, messageTypes, commandTypes, eventTypes"),
	"ConnectResponseBody.capabilities": objectOrNull("the sender's capabilities: protocolVersion, messageTypes, commandTypes, eventTypes"),
	"QueryBody.context":                objectOrNull(""),
	"CommandBody.payload":              objectOrNull(""),
	"EventBody.payload":                objectOrNull("at most 64 KiB"),
	"ResponseBody.data":                anyJSON("what the responder's query or command handler answered"),

	// Request bodies: what a client sends (null is read as absent, but
	// nothing needs it, so the document asks for an object).
	"InitiateInput.metadata":   object(),
	"ChangeInput.metadata":     object(),
	"Patch.metadata":           object(),
	"SubscribeInput.metadata":  object(),
	"SubscribeInput.eventType": Schema{"description": "dot-separated lower-case words (task.created), optionally ending in .* (task.*)"},
	"PublishInput.payload":     object(),
	"CommandInput.payload":     object(),
	"QueryInput.context":       object(),
	"SpawnInput.context":       Schema{"type": "object", "description": "repository, branch, workItems and skills (PROTOCOL.md §7)", "additionalProperties": true},
	"SpawnInput.options":       Schema{"type": "object", "description": "priority 1..10 (PROTOCOL.md §7)", "additionalProperties": true},
}

// object is a JSON object with any members. It says additionalProperties:
// true because generators read an object schema without properties and
// without it as an object with no members (ogen: struct{}, openapi-typescript:
// Record<string, never>), which drops what the object carries.
func object() Schema { return Schema{"type": "object", "additionalProperties": true} }

// objectOrNull is a JSON object a sender may give as null: fedgate reads null
// as absent (federation.Checks.Object) but stores and forwards a member as it
// was sent, so answers and envelopes can carry the null.
func objectOrNull(description string) Schema {
	s := Schema{"type": []string{"object", "null"}, "additionalProperties": true}
	if description != "" {
		s["description"] = description
	}
	return s
}

// anyJSON is a member that may hold any JSON value. It lists the six JSON
// types as typed alternatives rather than saying {} (which generators read as
// untyped) or a type array of several (which the Go generators refuse):
// ogen makes a sum type of it, oapi-codegen a union, openapi-typescript a
// TypeScript union.
func anyJSON(description string) Schema {
	return Schema{"description": "any JSON value: " + description, "anyOf": []any{
		object(), Schema{"type": "array"}, Schema{"type": "string"}, Schema{"type": "number"},
		Schema{"type": "boolean"}, Schema{"type": "null"},
	}}
}
