package federation

import (
	"encoding/json"
	"slices"
	"time"
)

// Directions of connections and messages.
const (
	Outbound = "OUTBOUND"
	Inbound  = "INBOUND"
)

// ConnStatus is a connection's status (PROTOCOL.md §5). It is a type of its
// own so that a message status can never be compared with or stored as one.
type ConnStatus string

// Connection statuses (PROTOCOL.md §5).
const (
	StatusPending      ConnStatus = "PENDING"
	StatusActive       ConnStatus = "ACTIVE"
	StatusSuspended    ConnStatus = "SUSPENDED"
	StatusDisconnected ConnStatus = "DISCONNECTED"
	StatusRejected     ConnStatus = "REJECTED"
)

// ConnectionStatuses lists every connection status, for validation.
var ConnectionStatuses = []ConnStatus{StatusPending, StatusActive, StatusSuspended, StatusDisconnected, StatusRejected}

// transitions lists the legal moves of the connection state machine:
// PENDING → ACTIVE → (SUSPENDED ↔ ACTIVE) → DISCONNECTED, or PENDING → REJECTED.
// A pending connection may also be withdrawn (DISCONNECTED).
var transitions = map[ConnStatus][]ConnStatus{
	StatusPending:   {StatusActive, StatusRejected, StatusDisconnected},
	StatusActive:    {StatusSuspended, StatusDisconnected},
	StatusSuspended: {StatusActive, StatusDisconnected},
}

// CanTransition reports whether a connection may move from one status to another.
func CanTransition(from, to ConnStatus) bool { return slices.Contains(transitions[from], to) }

// SourcesOf returns the statuses from which a connection may move to `to`,
// in the order of ConnectionStatuses.
func SourcesOf(to ConnStatus) []ConnStatus {
	var out []ConnStatus
	for _, from := range ConnectionStatuses {
		if CanTransition(from, to) {
			out = append(out, from)
		}
	}
	return out
}

// IsLive reports whether a status counts toward "one live connection per
// workspace and remote origin".
func (s ConnStatus) IsLive() bool {
	return s == StatusPending || s == StatusActive || s == StatusSuspended
}

// Ended reports whether a connection with this status is over for good.
func (s ConnStatus) Ended() bool { return s == StatusDisconnected || s == StatusRejected }

// RemoteKey is a peer's published verification key, as fetched from its GET /instance.
type RemoteKey struct {
	KeyID     string     `json:"keyId"`
	Alg       string     `json:"alg"`
	PublicKey string     `json:"publicKey"`
	Status    string     `json:"status"`
	ExpiresAt *time.Time `json:"expiresAt,omitempty"` // a retired key verifies until then
}

// Usable reports whether the key may verify a signature at now: a retired
// key stops at its expiresAt.
func (k RemoteKey) Usable(now time.Time) bool {
	return k.ExpiresAt == nil || now.Before(*k.ExpiresAt)
}

// Connection is a link between a workspace here and a remote instance. Its id
// is chosen by the initiator and is the same on both sides.
type Connection struct {
	ID                 string          `json:"id"`
	WorkspaceID        string          `json:"workspaceId"`
	RemoteInstanceID   string          `json:"remoteInstanceId"`
	RemoteURL          string          `json:"remoteUrl"`
	RemoteName         string          `json:"remoteName"`
	Direction          string          `json:"direction"`
	Status             ConnStatus      `json:"status"`
	RemoteCapabilities json.RawMessage `json:"remoteCapabilities"`
	Metadata           json.RawMessage `json:"metadata"`
	RemoteKeys         []RemoteKey     `json:"-"`
	KeysFetchedAt      time.Time       `json:"-"` // when RemoteKeys were read from the peer
	Health             Health          `json:"health"`
	CreatedAt          time.Time       `json:"createdAt"`
	UpdatedAt          time.Time       `json:"updatedAt"`
	ConnectedAt        *time.Time      `json:"connectedAt,omitempty"`
	DisconnectedAt     *time.Time      `json:"disconnectedAt,omitempty"`
	SuspendedAt        *time.Time      `json:"suspendedAt,omitempty"` // when it was last suspended
	Reason             string          `json:"reason,omitempty"`
}

// Clone is a copy of c that shares nothing a caller may change.
func (c *Connection) Clone() *Connection {
	out := *c
	out.RemoteKeys = slices.Clone(c.RemoteKeys)
	return &out
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

// Bounds of a peer's identity document (PROTOCOL.md §5): what a peer can make
// this instance fetch and store is limited.
const (
	MaxDocumentBytes   = 64 * 1024
	MaxKeys            = 10
	MaxKeyBytes        = 4 * 1024
	MaxNameLen         = 200
	MaxCapabilityItems = 100
)

// CheckPeerKeys applies the bounds to a peer's published keys.
func CheckPeerKeys(v *Checks, field string, keys []RemoteKey) {
	v.Check(len(keys) > 0 && len(keys) <= MaxKeys, field, "must list 1 to 10 keys")
	for _, k := range keys {
		if len(k.PublicKey) > MaxKeyBytes || len(k.KeyID) > 100 || len(k.Alg) > 20 || len(k.Status) > 20 {
			v.Check(false, field, "entries must be at most 4 KiB")
			return
		}
	}
}
