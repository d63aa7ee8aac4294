package federation

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
)

// The built-in command and query types every fedgate instance understands
// (PROTOCOL.md §6–§8): one name each, used by the side that sends and the
// side that runs them.
const (
	CommandEventSubscribe   = "event.subscribe"
	CommandEventUnsubscribe = "event.unsubscribe"
	CommandEventSync        = "event.sync"
	CommandAgentSpawn       = "agent.spawn"
	CommandAgentStatus      = "agent.status"
	CommandAgentKill        = "agent.kill"

	QueryInstance      = "federation.instance"
	QuerySubscriptions = "events.subscriptions"
)

// SubscribePayload is event.subscribe's and event.unsubscribe's payload.
type SubscribePayload struct {
	EventType string  `json:"eventType"`
	Filter    *Filter `json:"filter,omitempty"`
}

// ParseSubscribe reads an event.subscribe / event.unsubscribe payload,
// naming the field that is wrong.
func ParseSubscribe(raw json.RawMessage) (SubscribePayload, error) {
	var p SubscribePayload
	if err := decodePayload(raw, &p); err != nil {
		return p, err
	}
	if !ValidEventPattern(p.EventType) {
		return p, Invalidf("payload.eventType must be an event type or a pattern ending in .*")
	}
	return p, nil
}

// SyncPayload is event.sync's payload: the subscriber's complete list of
// active subscriptions on the connection.
type SyncPayload struct {
	EventTypes []string `json:"eventTypes"`
}

// ParseSync reads an event.sync payload.
func ParseSync(raw json.RawMessage) (SyncPayload, error) {
	var p SyncPayload
	if err := decodePayload(raw, &p); err != nil {
		return p, err
	}
	if p.EventTypes == nil {
		return p, Invalidf("payload.eventTypes must list the subscriber's event types")
	}
	for _, t := range p.EventTypes {
		if !ValidEventPattern(t) {
			return p, Invalidf("payload.eventTypes: %q is not an event type or a pattern ending in .*", Shorten(t, MaxTypeNameLen))
		}
	}
	return p, nil
}

// SpawnContext is what an agent works on.
type SpawnContext struct {
	Repository string   `json:"repository"`
	Branch     string   `json:"branch"`
	WorkItems  []string `json:"workItems"`
	Skills     []string `json:"skills,omitempty"`
}

// SpawnOptions are an agent.spawn's options.
type SpawnOptions struct {
	Priority *int `json:"priority,omitempty"`
}

// SpawnPayload is agent.spawn's payload (PROTOCOL.md §7).
type SpawnPayload struct {
	TaskID    string        `json:"taskId"`
	AgentType string        `json:"agentType"`
	Context   SpawnContext  `json:"context"`
	Options   *SpawnOptions `json:"options,omitempty"`
}

// ParseSpawn reads an agent.spawn payload, naming the field that is wrong.
func ParseSpawn(raw json.RawMessage) (SpawnPayload, error) {
	var p SpawnPayload
	if err := decodePayload(raw, &p); err != nil {
		return p, err
	}
	switch {
	case p.TaskID == "":
		return p, Invalidf("payload.taskId is required")
	case !slices.Contains(AgentTypes, p.AgentType):
		return p, Invalidf("payload.agentType must be one of worker, reviewer, tester")
	case p.Context.Repository == "" || p.Context.Branch == "":
		return p, Invalidf("payload.context.repository and payload.context.branch are required")
	case len(p.Context.WorkItems) == 0:
		return p, Invalidf("payload.context.workItems must list at least one item")
	case p.Options != nil && p.Options.Priority != nil && (*p.Options.Priority < 1 || *p.Options.Priority > 10):
		return p, Invalidf("payload.options.priority must be from 1 to 10")
	}
	return p, nil
}

// AgentPayload is agent.status's and agent.kill's payload.
type AgentPayload struct {
	AgentID string `json:"agentId"`
}

// ParseAgent reads an agent.status / agent.kill payload.
func ParseAgent(raw json.RawMessage) (AgentPayload, error) {
	var p AgentPayload
	if err := decodePayload(raw, &p); err != nil {
		return p, err
	}
	if p.AgentID == "" || len(p.AgentID) > 200 {
		return p, Invalidf("payload.agentId is required (at most 200 characters)")
	}
	return p, nil
}

// decodePayload reads a built-in's payload object; a member of the wrong
// type is named (encoding/json's own message names the Go type instead).
func decodePayload(raw json.RawMessage, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		if fe, ok := AsError(err); ok {
			return fe // a filter's own validation_failed, with its path
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return Invalidf("payload.%s must be %s", te.Field, jsonKind(te.Type.Kind()))
		}
		return Invalidf("payload must be a JSON object")
	}
	return nil
}

// jsonKind names the JSON value a Go kind decodes from.
func jsonKind(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Struct, reflect.Map, reflect.Pointer:
		return "an object"
	default:
		return "a number"
	}
}
