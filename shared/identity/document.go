package identity

import (
	"encoding/json"
	"time"

	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/signing"
	"github.com/fedgate/fedgate/shared/store"
)

// Document is the public identity of an instance (PROTOCOL.md §5, GET /instance).
// It never holds private material.
type Document struct {
	InstanceID   string          `json:"instanceId"`
	Name         string          `json:"name"`
	URL          string          `json:"url"`
	PublicKey    string          `json:"publicKey"`
	KeyID        string          `json:"keyId"`
	PublicKeys   []PublicKey     `json:"publicKeys"`
	Capabilities Capabilities    `json:"capabilities"`
	Metadata     json.RawMessage `json:"metadata"`
}

// PublicKey is one published verification key.
type PublicKey struct {
	KeyID     string     `json:"keyId"`
	Alg       string     `json:"alg"`
	PublicKey string     `json:"publicKey"`
	Status    string     `json:"status"`
	CreatedAt time.Time  `json:"createdAt"`
	ExpiresAt *time.Time `json:"expiresAt,omitempty"` // retired keys: when peers stop accepting them
}

// Capabilities tells peers what this instance speaks and accepts.
type Capabilities struct {
	ProtocolVersion string   `json:"protocolVersion"`
	MessageTypes    []string `json:"messageTypes"`
	CommandTypes    []string `json:"commandTypes"`
	EventTypes      []string `json:"eventTypes"`
}

func (s *Service) document(rec *store.InstanceRecord) Document {
	now := s.now()
	d := Document{
		InstanceID: rec.InstanceID,
		Name:       rec.Name,
		URL:        s.settings.URL,
		PublicKeys: []PublicKey{},
		Capabilities: Capabilities{
			ProtocolVersion: ProtocolVersion,
			MessageTypes:    MessageTypes,
			CommandTypes:    nonNil(rec.CommandTypes),
			EventTypes:      nonNil(rec.EventTypes),
		},
		Metadata: json.RawMessage(rec.Metadata),
	}
	if len(d.Metadata) == 0 {
		d.Metadata = json.RawMessage("{}")
	}
	for _, k := range rec.Keys {
		if !s.withinGrace(k, now) {
			continue
		}
		if k.Status == KeyCurrent {
			d.PublicKey, d.KeyID = k.PublicKey, k.KeyID
		}
		pk := PublicKey{KeyID: k.KeyID, Alg: string(k.Alg), PublicKey: k.PublicKey, Status: k.Status, CreatedAt: k.CreatedAt}
		if k.RetiredAt != nil {
			expires := k.RetiredAt.Add(s.settings.RetiredGrace).UTC()
			pk.ExpiresAt = &expires
		}
		d.PublicKeys = append(d.PublicKeys, pk)
	}
	return d
}

// Check applies PROTOCOL.md §5's bounds to a peer's identity document (its
// size is bounded where it is read).
func (d *Document) Check() error {
	var v federation.Checks
	v.Required("instanceId", d.InstanceID)
	v.Check(len(d.InstanceID) <= 100, "instanceId", "must be at most 100 characters")
	v.Check(len(d.Name) <= federation.MaxNameLen, "name", "must be at most 200 characters")
	keys := make([]federation.RemoteKey, len(d.PublicKeys))
	for i, k := range d.PublicKeys {
		keys[i] = federation.RemoteKey{KeyID: k.KeyID, Alg: k.Alg, PublicKey: k.PublicKey, Status: k.Status}
	}
	federation.CheckPeerKeys(&v, "publicKeys", keys)
	v.Check(len(keys) == 0 || len(d.RemoteKeys()) > 0, "publicKeys", "must hold a usable key (Ed25519, or RSA of 2048 to 4096 bits with exponent 65537)")
	c := d.Capabilities
	for field, list := range map[string][]string{"capabilities.messageTypes": c.MessageTypes, "capabilities.commandTypes": c.CommandTypes, "capabilities.eventTypes": c.EventTypes} {
		v.Check(len(list) <= federation.MaxCapabilityItems, field, "must have at most 100 entries")
	}
	return v.Err()
}

// RemoteKeys are the document's usable keys as a peer's keys are stored: a
// key of an unknown algorithm, or an RSA key outside 2048–4096 bits or with
// another exponent than 65537, is ignored (PROTOCOL.md §3).
func (d *Document) RemoteKeys() []federation.RemoteKey {
	out := make([]federation.RemoteKey, 0, len(d.PublicKeys))
	for _, k := range d.PublicKeys {
		alg, err := signing.ParseAlg(k.Alg)
		if err != nil {
			continue
		}
		if _, err := signing.ParsePublicKeyPEM(alg, k.PublicKey); err != nil {
			continue
		}
		out = append(out, federation.RemoteKey{KeyID: k.KeyID, Alg: k.Alg, PublicKey: k.PublicKey, Status: k.Status, ExpiresAt: k.ExpiresAt})
	}
	return out
}
