package federation

import (
	"encoding/json"
	"time"
)

// Message types of the user-visible Message resource.
const (
	TypeQuery   = "QUERY"
	TypeCommand = "COMMAND"
	TypeEvent   = "EVENT"
)

// TypePublished marks the stored record of an event a workspace published:
// the event log that fan-out, replay and catch-up read (no list shows it).
const TypePublished = "PUBLISHED"

// Response is the answer to a QUERY or COMMAND.
type Response struct {
	Success bool            `json:"success"`
	Data    json.RawMessage `json:"data,omitempty"`
	Error   string          `json:"error,omitempty"`
}

// AckResponse is what an EVENT_ACK's received says, as the delivery shows it.
func AckResponse(received bool, eventType string) *Response {
	resp := &Response{Success: received}
	if !received {
		resp.Error = "the receiver is not subscribed to " + eventType
	}
	return resp
}

// Message is a QUERY, COMMAND or EVENT in either direction (PROTOCOL.md §4).
type Message struct {
	ID            string          `json:"id"`
	WorkspaceID   string          `json:"workspaceId"`
	ConnectionID  string          `json:"connectionId"`
	MessageType   string          `json:"messageType"`
	Direction     string          `json:"direction"`
	Status        MsgStatus       `json:"status"`
	Query         string          `json:"query,omitempty"`
	Context       json.RawMessage `json:"context,omitempty"`
	CommandType   string          `json:"commandType,omitempty"`
	EventType     string          `json:"eventType,omitempty"`
	Payload       json.RawMessage `json:"payload,omitempty"`
	Response      *Response       `json:"response,omitempty"`
	Error         string          `json:"error,omitempty"`
	Attempts      int             `json:"attempts"`
	NextAttemptAt *time.Time      `json:"nextAttemptAt,omitempty"`
	ReplayOf      string          `json:"replayOf,omitempty"`
	CreatedAt     time.Time       `json:"createdAt"`
	UpdatedAt     time.Time       `json:"updatedAt"`
	DeliveredAt   *time.Time      `json:"deliveredAt,omitempty"`
	CompletedAt   *time.Time      `json:"completedAt,omitempty"`
	// TraceID is the trace the message was made in (PROTOCOL.md §9): the
	// same on the sender's and the receiver's record of one envelope.
	TraceID string `json:"traceId,omitempty"`
	// RemoteTraceID is the peer's trace an incoming envelope carried: the
	// remote parent of TraceID, adopted only once the envelope verified.
	RemoteTraceID string `json:"remoteTraceId,omitempty"`
}

// Attempt is one delivery attempt of an outgoing message (PROTOCOL.md §9).
type Attempt struct {
	Attempt    int       `json:"attempt"`
	At         time.Time `json:"at"`
	DurationMs int64     `json:"durationMs"`
	Outcome    string    `json:"outcome"`
	Status     int       `json:"status,omitempty"`
	ErrorClass string    `json:"errorClass,omitempty"`
	Error      string    `json:"error,omitempty"`
	// ResponseExcerpt is the start of the peer's answer (at most 1 KiB).
	ResponseExcerpt string `json:"responseExcerpt,omitempty"`
}

// Outcomes of an attempt.
const (
	AttemptDelivered = "delivered" // the peer took it (or, for an EVENT answered 202, will ACK it)
	AttemptRejected  = "rejected"  // the peer refused it for good (a 4xx other than 408/429)
	AttemptFailed    = "failed"    // it did not get there, or the answer was wrong; it is retried
	AttemptHeld      = "held"      // not attempted: the peer's circuit, slots or pace made it wait
)

// Error classes of a failed attempt.
const (
	ClassDNS           = "dns"
	ClassConnect       = "connect"
	ClassTLS           = "tls"
	ClassTimeout       = "timeout"
	ClassHTTP          = "http"
	ClassSignature     = "signature"
	ClassInvalidAnswer = "invalid_answer"
)

// MaxResponseExcerpt bounds the answer kept with an attempt.
const MaxResponseExcerpt = 1024

// Operation is an operator event (PROTOCOL.md §8 "Operational events",
// §9): something the people who run the instance must see, recorded and
// alarmed here, never sent to peers.
type Operation struct {
	ID           string          `json:"id"`
	Type         string          `json:"type"` // e.g. federation.connection.suspended
	WorkspaceID  string          `json:"workspaceId,omitempty"`
	ConnectionID string          `json:"connectionId,omitempty"`
	MessageID    string          `json:"messageId,omitempty"`
	Detail       json.RawMessage `json:"detail,omitempty"`
	At           time.Time       `json:"at"`
}

// Operator event types.
const (
	OpConnectionSuspended = "federation.connection.suspended"
	OpConnectionResumed   = "federation.connection.resumed"
	OpDeliveryExhausted   = "federation.delivery.exhausted"
	OpPeerFailing         = "federation.peer.failing"
	OpPeerRecovered       = "federation.peer.recovered"
	OpKeyRotated          = "federation.key.rotated"
)
