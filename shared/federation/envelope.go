package federation

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Envelope types (PROTOCOL.md §4).
const (
	EnvConnect         = "CONNECT"
	EnvConnectResponse = "CONNECT_RESPONSE"
	EnvDisconnect      = "DISCONNECT"
	EnvQuery           = "QUERY"
	EnvQueryResponse   = "QUERY_RESPONSE"
	EnvCommand         = "COMMAND"
	EnvCommandResponse = "COMMAND_RESPONSE"
	EnvEvent           = "EVENT"
	EnvEventAck        = "EVENT_ACK"
)

// MaxClockSkew is how far an envelope's timestamp may be from now.
const MaxClockSkew = 5 * time.Minute

// Envelope holds the members every signed message has. Type-specific members
// live in the Body types below; an envelope on the wire is both merged.
type Envelope struct {
	MessageID    string `json:"messageId"`
	Type         string `json:"type"`
	InstanceID   string `json:"instanceId"`
	ToInstanceID string `json:"toInstanceId"`
	// ToURL is the recipient's url (its origin), inside the signature: an
	// instance is its origin, so an envelope cannot be relayed to another.
	ToURL        string `json:"toUrl"`
	ConnectionID string `json:"connectionId"`
	Timestamp    int64  `json:"timestamp"`
	KeyID        string `json:"keyId,omitempty"`
	Signature    string `json:"signature,omitempty"`
	// Traceparent is the W3C Trace Context of the work that sent it
	// (PROTOCOL.md §9), inside the signature; the receiver continues it.
	Traceparent string `json:"traceparent,omitempty"`
}

// Check validates the common members, naming the first bad field.
func (e Envelope) Check(wantType string) error {
	var missing []string
	for name, v := range map[string]string{
		"messageId": e.MessageID, "type": e.Type, "instanceId": e.InstanceID, "toInstanceId": e.ToInstanceID,
		"toUrl": e.ToURL, "connectionId": e.ConnectionID, "signature": e.Signature,
	} {
		if strings.TrimSpace(v) == "" {
			missing = append(missing, name)
		}
	}
	if e.Timestamp <= 0 {
		missing = append(missing, "timestamp")
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s is required", strings.Join(sorted(missing), ", "))
	}
	if e.Type != wantType {
		return fmt.Errorf("type must be %s on this endpoint, not %s", wantType, e.Type)
	}
	for _, id := range []struct{ name, v string }{
		{"messageId", e.MessageID}, {"connectionId", e.ConnectionID}, {"instanceId", e.InstanceID}, {"toInstanceId", e.ToInstanceID},
	} {
		if !ValidID(id.v) {
			return fmt.Errorf("%s must be 1 to 100 characters of A-Z a-z 0-9 . _ : -", id.name)
		}
	}
	if e.KeyID != "" && !ValidID(e.KeyID) {
		return fmt.Errorf("keyId must be 1 to 100 characters of A-Z a-z 0-9 . _ : -")
	}
	return nil
}

// Fresh reports whether the timestamp is within MaxClockSkew of now.
func (e Envelope) Fresh(now time.Time) bool {
	d := now.Sub(time.UnixMilli(e.Timestamp))
	return d <= MaxClockSkew && d >= -MaxClockSkew
}

func sorted(s []string) []string {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s
}

// Merge produces the wire JSON of an envelope: its header members plus the
// members of body (a struct or map), without keyId and signature, ready for
// signing.Sign.
func Merge(header Envelope, body any) ([]byte, error) {
	header.KeyID, header.Signature = "", ""
	members := map[string]json.RawMessage{}
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode envelope body: %w", err)
		}
		if err := json.Unmarshal(raw, &members); err != nil {
			return nil, fmt.Errorf("envelope body must be an object: %w", err)
		}
	}
	raw, _ := json.Marshal(header)
	var head map[string]json.RawMessage
	_ = json.Unmarshal(raw, &head)
	for k, v := range head {
		members[k] = v
	}
	return json.Marshal(members)
}

// Type-specific members of each envelope type.

// ConnectBody is CONNECT's members.
type ConnectBody struct {
	InstanceURL  string          `json:"instanceUrl"`
	Name         string          `json:"name"`
	PublicKey    string          `json:"publicKey"`
	PublicKeys   []RemoteKey     `json:"publicKeys"`
	Capabilities json.RawMessage `json:"capabilities"`
	InviteToken  string          `json:"inviteToken,omitempty"`
}

// ConnectResponseBody is CONNECT_RESPONSE's members.
type ConnectResponseBody struct {
	Accepted     bool            `json:"accepted"`
	Reason       string          `json:"reason,omitempty"`
	PublicKey    string          `json:"publicKey"`
	Capabilities json.RawMessage `json:"capabilities"`
}

// DisconnectBody is DISCONNECT's members.
type DisconnectBody struct {
	Reason string `json:"reason,omitempty"`
}

// QueryBody is QUERY's members.
type QueryBody struct {
	Query   string          `json:"query"`
	Context json.RawMessage `json:"context,omitempty"`
}

// ResponseBody is QUERY_RESPONSE's and COMMAND_RESPONSE's members.
type ResponseBody struct {
	CorrelationID string          `json:"correlationId"`
	Success       bool            `json:"success"`
	Data          json.RawMessage `json:"data,omitempty"`
	Error         string          `json:"error,omitempty"`
}

// CommandBody is COMMAND's members.
type CommandBody struct {
	CommandType string          `json:"commandType"`
	Payload     json.RawMessage `json:"payload"`
	// ExpiresAt (Unix ms, inside the signature) is when the sender stops
	// waiting for the answer: neither side sends or runs it later
	// (PROTOCOL.md §7). fedgate always sends it.
	ExpiresAt int64 `json:"expiresAt,omitempty"`
}

// EventBody is EVENT's members.
type EventBody struct {
	EventType string          `json:"eventType"`
	Payload   json.RawMessage `json:"payload"`
	ReplayOf  string          `json:"replayOf,omitempty"`
}

// EventAckBody is EVENT_ACK's members.
type EventAckBody struct {
	CorrelationID string `json:"correlationId"`
	Received      bool   `json:"received"`
}

// incomingPaths maps each envelope type to the peer endpoint that receives it
// (under the base path).
var incomingPaths = map[string]string{
	EnvConnect:         "/incoming/connect",
	EnvConnectResponse: "/incoming/connect/response",
	EnvDisconnect:      "/incoming/disconnect",
	EnvQuery:           "/incoming/query",
	EnvCommand:         "/incoming/command",
	EnvCommandResponse: "/incoming/command/response",
	EnvEvent:           "/incoming/event",
	EnvEventAck:        "/incoming/event/ack",
}

// IncomingPath returns the endpoint path for an envelope type.
func IncomingPath(envelopeType string) (string, bool) {
	p, ok := incomingPaths[envelopeType]
	return p, ok
}

// Response is the answer a QUERY_RESPONSE or COMMAND_RESPONSE carries.
func (b ResponseBody) Response() *Response {
	return &Response{Success: b.Success, Data: b.Data, Error: b.Error}
}

// Correlates names the message a response answers.
func (b ResponseBody) Correlates() string { return b.CorrelationID }

// Correlates names the event an EVENT_ACK acknowledges.
func (b EventAckBody) Correlates() string { return b.CorrelationID }
