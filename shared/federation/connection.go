// Package federation holds fedgate's domain types and rules: connections and
// their state machine, messages and envelopes, the retry schedule, the
// query deny-list. Plain values and functions; no I/O.
package federation

import (
	"encoding/json"
	"time"
)

// Directions of connections and messages.
const (
	Outbound = "OUTBOUND"
	Inbound  = "INBOUND"
)

// Connection statuses (PROTOCOL.md §5).
const (
	StatusPending      = "PENDING"
	StatusActive       = "ACTIVE"
	StatusSuspended    = "SUSPENDED"
	StatusDisconnected = "DISCONNECTED"
	StatusRejected     = "REJECTED"
)

// ConnectionStatuses lists every connection status, for validation.
var ConnectionStatuses = []string{StatusPending, StatusActive, StatusSuspended, StatusDisconnected, StatusRejected}

// transitions lists the legal moves of the connection state machine:
// PENDING → ACTIVE → (SUSPENDED ↔ ACTIVE) → DISCONNECTED, or PENDING → REJECTED.
// A pending connection may also be withdrawn (DISCONNECTED).
var transitions = map[string][]string{
	StatusPending:   {StatusActive, StatusRejected, StatusDisconnected},
	StatusActive:    {StatusSuspended, StatusDisconnected},
	StatusSuspended: {StatusActive, StatusDisconnected},
}

// CanTransition reports whether a connection may move from one status to another.
func CanTransition(from, to string) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// SourcesOf returns the statuses from which a connection may move to `to`.
func SourcesOf(to string) []string {
	var out []string
	for from, tos := range transitions {
		for _, s := range tos {
			if s == to {
				out = append(out, from)
			}
		}
	}
	return out
}

// IsLive reports whether a status counts toward "one live connection per
// workspace and remote instance".
func IsLive(status string) bool {
	return status == StatusPending || status == StatusActive || status == StatusSuspended
}

// RemoteKey is a peer's published verification key, as fetched from its GET /instance.
type RemoteKey struct {
	KeyID     string `json:"keyId" dynamodbav:"keyId"`
	Alg       string `json:"alg" dynamodbav:"alg"`
	PublicKey string `json:"publicKey" dynamodbav:"publicKey"`
	Status    string `json:"status" dynamodbav:"status"`
}

// Health tracks delivery outcomes to a peer (PROTOCOL.md §8 "Peer health").
type Health struct {
	ConsecutiveFailures int        `json:"consecutiveFailures" dynamodbav:"consecutiveFailures"`
	LastSuccessAt       *time.Time `json:"lastSuccessAt,omitempty" dynamodbav:"lastSuccessAt,omitempty"`
	LastFailureAt       *time.Time `json:"lastFailureAt,omitempty" dynamodbav:"lastFailureAt,omitempty"`
	FailingSince        *time.Time `json:"-" dynamodbav:"failingSince,omitempty"`
	Circuit             string     `json:"circuit" dynamodbav:"circuit"`
	OpenUntil           *time.Time `json:"openUntil,omitempty" dynamodbav:"openUntil,omitempty"`
	OpenFor             int64      `json:"-" dynamodbav:"openForSeconds,omitempty"`
}

// Circuit states.
const (
	CircuitClosed   = "closed"
	CircuitOpen     = "open"
	CircuitHalfOpen = "half-open"
)

// Connection is a link between a workspace here and a remote instance. Its id
// is chosen by the initiator and is the same on both sides.
type Connection struct {
	ID                 string          `json:"id" dynamodbav:"connectionId"`
	WorkspaceID        string          `json:"workspaceId" dynamodbav:"workspaceId"`
	RemoteInstanceID   string          `json:"remoteInstanceId" dynamodbav:"remoteInstanceId"`
	RemoteURL          string          `json:"remoteUrl" dynamodbav:"remoteUrl"`
	RemoteName         string          `json:"remoteName" dynamodbav:"remoteName"`
	Direction          string          `json:"direction" dynamodbav:"direction"`
	Status             string          `json:"status" dynamodbav:"status"`
	RemoteCapabilities json.RawMessage `json:"remoteCapabilities" dynamodbav:"remoteCapabilities"`
	Metadata           json.RawMessage `json:"metadata" dynamodbav:"metadata"`
	RemoteKeys         []RemoteKey     `json:"-" dynamodbav:"remoteKeys"`
	Health             Health          `json:"health" dynamodbav:"health"`
	CreatedAt          time.Time       `json:"createdAt" dynamodbav:"createdAt"`
	UpdatedAt          time.Time       `json:"updatedAt" dynamodbav:"updatedAt"`
	ConnectedAt        *time.Time      `json:"connectedAt,omitempty" dynamodbav:"connectedAt,omitempty"`
	DisconnectedAt     *time.Time      `json:"disconnectedAt,omitempty" dynamodbav:"disconnectedAt,omitempty"`
	Reason             string          `json:"reason,omitempty" dynamodbav:"reason,omitempty"`
}

// RemoteKey returns the peer key with id keyID.
func (c *Connection) RemoteKey(keyID string) (RemoteKey, bool) {
	for _, k := range c.RemoteKeys {
		if k.KeyID == keyID {
			return k, true
		}
	}
	return RemoteKey{}, false
}

// CurrentRemoteKey returns the peer's current key.
func (c *Connection) CurrentRemoteKey() (RemoteKey, bool) {
	for _, k := range c.RemoteKeys {
		if k.Status == "current" {
			return k, true
		}
	}
	if len(c.RemoteKeys) > 0 {
		return c.RemoteKeys[0], true
	}
	return RemoteKey{}, false
}
