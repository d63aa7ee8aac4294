package openapi

import (
	"encoding/json"

	"github.com/fedgate/fedgate/shared/federation"
)

// Answers that handlers build from maps or unexported views, named here so
// the document can describe them. A test in shared/handlers checks that each
// mirrors its handler's view member for member, and the end-to-end tests
// validate every real answer against the document, so neither can drift.

// Subscription is the Subscription resource (PROTOCOL.md §8): the stored
// subscription and its metadata as an object.
type Subscription struct {
	federation.Subscription
	Metadata json.RawMessage `json:"metadata"`
}

// AgentKillInput is the body of POST /agents/{agentId}/kill.
type AgentKillInput struct {
	ConnectionID string `json:"connectionId"`
}

// Status is the answer to an envelope that changes a status: CONNECT
// without an invite (202 {status: PENDING}), CONNECT_RESPONSE, DISCONNECT,
// COMMAND_RESPONSE and EVENT_ACK (200 with the status it led to).
type Status struct {
	Status string `json:"status"`
}

// CommandAccepted is the answer to a COMMAND (PROTOCOL.md §7): 202 once it
// is stored and queued.
type CommandAccepted struct {
	Accepted  bool   `json:"accepted"`
	MessageID string `json:"messageId"`
}

// Redelivered is the answer to POST /events/messages/{id}/redeliver: the
// new delivery's id.
type Redelivered struct {
	Deliveries int      `json:"deliveries"`
	MessageIDs []string `json:"messageIds"`
}

// Replayed is the answer to POST /events/replay: how many deliveries the
// window holds (they are sent in the background).
type Replayed struct {
	Deliveries int `json:"deliveries"`
}
