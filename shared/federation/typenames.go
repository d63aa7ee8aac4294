package federation

import (
	"encoding/json"
	"strings"
	"time"
)

// MaxTypeNameLen bounds command and event type names.
const MaxTypeNameLen = 100

// ValidTypeName is the one rule for command and event type names, used
// wherever one enters (PATCH /instance, commands, publish, subscribe):
// dot-separated lower-case words, at least two ("entity.action"), each
// starting with a letter and made of letters, digits and "_".
func ValidTypeName(s string) bool {
	words := strings.Split(s, ".")
	return len(s) <= MaxTypeNameLen && len(words) >= 2 && validWords(words)
}

func validWords(words []string) bool {
	for _, w := range words {
		if w == "" || w[0] < 'a' || w[0] > 'z' {
			return false
		}
		for _, r := range w {
			if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' {
				return false
			}
		}
	}
	return true
}

// ValidEventPattern reports whether s can be subscribed to: a type name, or
// words followed by ".*" ("project.*", "task.status.*") matching one or more
// trailing words.
func ValidEventPattern(s string) bool {
	if prefix, ok := strings.CutSuffix(s, ".*"); ok {
		return len(s) <= MaxTypeNameLen && prefix != "" && validWords(strings.Split(prefix, "."))
	}
	return ValidTypeName(s)
}

// MatchEventType reports whether a subscription pattern matches an event type.
func MatchEventType(pattern, eventType string) bool {
	if prefix, ok := strings.CutSuffix(pattern, ".*"); ok {
		return strings.HasPrefix(eventType, prefix+".") && len(eventType) > len(prefix)+1
	}
	return pattern == eventType
}

// EventFamily is the first word of an event type or pattern: every pattern
// that can match a type shares its family, so the fan-out reads one family.
func EventFamily(s string) string {
	family, _, _ := strings.Cut(s, ".")
	return family
}

// Subscription is one workspace's interest in a remote's event type
// (OUTBOUND: we subscribed there; INBOUND: the remote subscribed here).
type Subscription struct {
	ID           string     `json:"id"`
	WorkspaceID  string     `json:"workspaceId"`
	ConnectionID string     `json:"connectionId"`
	EventType    string     `json:"eventType"`
	Filter       *Filter    `json:"filter,omitempty"` // selects by payload; nil selects every event of the type
	Direction    string     `json:"direction"`
	Metadata     []byte     `json:"-"`
	IsActive     bool       `json:"isActive"`
	CreatedAt    time.Time  `json:"createdAt"`
	UpdatedAt    time.Time  `json:"updatedAt"`
	SyncedAt     *time.Time `json:"syncedAt,omitempty"` // when the publisher last confirmed it
}

// Event is what a subscription decides on: an event's type and payload. The
// payload is decoded once, when the first filter needs it, and shared by
// every subscription asked.
type Event struct {
	Type    string
	Payload json.RawMessage
	decoded any
	done    bool
	bad     bool
}

// NewEvent returns the Event of a type and payload.
func NewEvent(eventType string, payload json.RawMessage) *Event {
	return &Event{Type: eventType, Payload: payload}
}

func (e *Event) value() (any, bool) {
	if !e.done {
		e.done = true
		v, err := DecodePayload(e.Payload)
		e.decoded, e.bad = v, err != nil
	}
	return e.decoded, !e.bad
}

// Receives is the one rule for "does this subscription receive this event",
// used by fan-out, replay, catch-up, the receiver and the watcher: the
// subscription is active, its pattern matches the type, and its filter (if
// any) selects the payload. A payload that cannot be decoded is selected by
// no filter.
func (s Subscription) Receives(e *Event) bool {
	if !s.IsActive || !MatchEventType(s.EventType, e.Type) {
		return false
	}
	if s.Filter == nil {
		return true
	}
	v, ok := e.value()
	return ok && s.Filter.Matches(v)
}

// AnyReceives reports whether any of subs receives e.
func AnyReceives(subs []Subscription, e *Event) bool {
	for _, s := range subs {
		if s.Receives(e) {
			return true
		}
	}
	return false
}
