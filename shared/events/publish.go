package events

import (
	"context"
	"encoding/json"

	"github.com/fedgate/fedgate/shared/federation"
)

// MaxPayload bounds an event's payload: with the envelope around it, it must
// stay well inside an SQS message and a DynamoDB item.
const MaxPayload = 64 * 1024

// PublishInput is an event a workspace publishes.
type PublishInput struct {
	EventType string          `json:"eventType"`
	Payload   json.RawMessage `json:"payload"`
}

// Published is the answer to a publish.
type Published struct {
	EventID    string `json:"eventId"`
	Deliveries int    `json:"deliveries"`
}

// Publish stores an event of workspace ws and queues its fan-out; Deliveries
// is how many subscribed ACTIVE connections it goes to as of now.
func (s *Service) Publish(ctx context.Context, ws string, in PublishInput) (Published, error) {
	var v federation.Checks
	v.Check(federation.ValidTypeName(in.EventType), "eventType", "must be dot-separated lower-case words such as task.created")
	v.Check(len(in.Payload) > 0, "payload", "is required")
	v.Object("payload", in.Payload)
	if err := v.Err(); err != nil {
		return Published{}, err
	}
	if len(in.Payload) > MaxPayload {
		return Published{}, federation.Errorf(federation.CodePayloadTooLarge, "payload is larger than %d bytes", MaxPayload)
	}
	id, n, err := s.publish(ctx, ws, in.EventType, in.Payload)
	return Published{EventID: id, Deliveries: n}, err
}
