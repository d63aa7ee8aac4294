package identity

import (
	"encoding/json"
	"time"

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
	KeyID     string    `json:"keyId"`
	Alg       string    `json:"alg"`
	PublicKey string    `json:"publicKey"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"createdAt"`
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
		d.PublicKeys = append(d.PublicKeys, PublicKey{
			KeyID: k.KeyID, Alg: string(k.Alg), PublicKey: k.PublicKey, Status: k.Status, CreatedAt: k.CreatedAt,
		})
	}
	return d
}
