package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/ids"
	"github.com/fedgate/fedgate/shared/signing"
	"github.com/fedgate/fedgate/shared/store"
)

// ProtocolVersion is the federation protocol version this code speaks.
const ProtocolVersion = "1"

// MessageTypes are the envelope types of PROTOCOL.md §4.
var MessageTypes = []string{
	"CONNECT", "CONNECT_RESPONSE", "DISCONNECT", "QUERY", "QUERY_RESPONSE",
	"COMMAND", "COMMAND_RESPONSE", "EVENT", "EVENT_ACK",
}

// Key statuses.
const (
	KeyCurrent = "current"
	KeyRetired = "retired"
)

// Settings is the deployment's configuration of its identity.
type Settings struct {
	Name         string      // initial display name
	URL          string      // public base URL (scheme and authority)
	Alg          signing.Alg // algorithm of new keys
	CommandTypes []string    // initial allow-list of incoming command types
	EventTypes   []string    // initial list of published event types
	RetiredGrace time.Duration
	// SignerRefresh bounds how long a warm function signs with a key that
	// another function has since rotated away.
	SignerRefresh time.Duration
}

// Repository is the storage the service needs.
type Repository interface {
	Get(ctx context.Context) (*store.InstanceRecord, error)
	Create(ctx context.Context, rec *store.InstanceRecord) error
	Update(ctx context.Context, rec *store.InstanceRecord) error
}

// Sealer encrypts private keys at rest.
type Sealer interface {
	Seal(ctx context.Context, instanceID string, key *signing.PrivateKey) (signing.SealedKey, error)
	Open(ctx context.Context, instanceID, keyID string, alg signing.Alg, sealed signing.SealedKey) (*signing.PrivateKey, error)
}

// Service manages the identity. It is a cold-start singleton: it caches the
// decrypted current key.
type Service struct {
	repo     Repository
	sealer   Sealer
	settings Settings
	now      func() time.Time

	mu         sync.Mutex
	signer     *signing.PrivateKey
	signerRead time.Time
	instanceID string
}

// ID returns this instance's id, read once (it never changes).
func (s *Service) ID(ctx context.Context) (string, error) {
	s.mu.Lock()
	id := s.instanceID
	s.mu.Unlock()
	if id != "" {
		return id, nil
	}
	rec, err := s.Ensure(ctx)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	s.instanceID = rec.InstanceID
	s.mu.Unlock()
	return rec.InstanceID, nil
}

// New returns the identity service.
func New(repo Repository, sealer Sealer, s Settings) *Service {
	if s.RetiredGrace == 0 {
		s.RetiredGrace = 7 * 24 * time.Hour
	}
	if s.SignerRefresh == 0 {
		// A revoked key is signed with by no container 5 s later (PROTOCOL.md §3).
		s.SignerRefresh = 5 * time.Second
	}
	if s.Alg == "" {
		s.Alg = signing.RS256
	}
	return &Service{repo: repo, sealer: sealer, settings: s, now: time.Now}
}

// Ensure returns the identity, creating it (id and first key pair) on the very
// first start. Concurrent first starts agree on one identity.
func (s *Service) Ensure(ctx context.Context) (*store.InstanceRecord, error) {
	rec, err := s.repo.Get(ctx)
	if err == nil {
		return s.followDeployment(ctx, rec)
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	now := s.now().UTC()
	rec = &store.InstanceRecord{
		InstanceID:           ids.New(),
		Name:                 s.settings.Name,
		CommandTypes:         nonNil(s.settings.CommandTypes),
		EventTypes:           nonNil(s.settings.EventTypes),
		DeployedCommandTypes: nonNil(s.settings.CommandTypes),
		DeployedEventTypes:   nonNil(s.settings.EventTypes),
		Metadata:             "{}",
		CreatedAt:            now,
		UpdatedAt:            now,
	}
	key, err := s.newKey(ctx, rec.InstanceID, now)
	if err != nil {
		return nil, err
	}
	rec.Keys = []store.KeyRecord{key}
	switch err := s.repo.Create(ctx, rec); {
	case errors.Is(err, store.ErrExists):
		return s.repo.Get(ctx)
	case err != nil:
		return nil, err
	}
	return rec, nil
}

// followDeployment applies the deployment's command and event types when
// they changed since they were last applied: settings that come from the
// deployment are in force after every deploy, not only the first (PROTOCOL.md
// §5). A PATCH /instance lasts until the setting changes again.
func (s *Service) followDeployment(ctx context.Context, rec *store.InstanceRecord) (*store.InstanceRecord, error) {
	cmds, evts := nonNil(s.settings.CommandTypes), nonNil(s.settings.EventTypes)
	if slices.Equal(rec.DeployedCommandTypes, cmds) && slices.Equal(rec.DeployedEventTypes, evts) {
		return rec, nil
	}
	if !slices.Equal(rec.DeployedCommandTypes, cmds) {
		rec.CommandTypes, rec.DeployedCommandTypes = cmds, cmds
	}
	if !slices.Equal(rec.DeployedEventTypes, evts) {
		rec.EventTypes, rec.DeployedEventTypes = evts, evts
	}
	rec.UpdatedAt = s.now().UTC()
	switch err := s.repo.Update(ctx, rec); {
	case errors.Is(err, store.ErrConflict):
		return s.repo.Get(ctx) // another cold start applied them
	case err != nil:
		return nil, err
	}
	return rec, nil
}

func (s *Service) newKey(ctx context.Context, instanceID string, now time.Time) (store.KeyRecord, error) {
	key, err := signing.GenerateKey(s.settings.Alg)
	if err != nil {
		return store.KeyRecord{}, err
	}
	sealed, err := s.sealer.Seal(ctx, instanceID, key)
	if err != nil {
		return store.KeyRecord{}, err
	}
	return store.KeyRecord{
		KeyID:     key.ID(),
		Alg:       key.Alg(),
		PublicKey: key.Public().PEM(),
		Sealed:    sealed,
		Status:    KeyCurrent,
		CreatedAt: now,
	}, nil
}

// Document returns the public identity served at GET /instance.
func (s *Service) Document(ctx context.Context) (Document, error) {
	rec, err := s.Ensure(ctx)
	if err != nil {
		return Document{}, err
	}
	return s.document(rec), nil
}

// Patch is the body of PATCH /instance. Nil members are left unchanged.
type Patch struct {
	Name         *string          `json:"name"`
	Capabilities *CapabilityPatch `json:"capabilities"`
	Metadata     *json.RawMessage `json:"metadata"`
}

// CapabilityPatch changes the configurable capabilities. The protocol version
// and message types are properties of this code, not settings.
type CapabilityPatch struct {
	CommandTypes *[]string `json:"commandTypes"`
	EventTypes   *[]string `json:"eventTypes"`
}

// Limits of PATCH /instance.
const (
	maxNameLen     = 200
	maxMetadataLen = 16 * 1024
	maxTypes       = 200
)

// check validates a patch, naming every bad field.
func (p Patch) check() error {
	if p.Name == nil && p.Capabilities == nil && p.Metadata == nil {
		return federation.Invalidf("body must set at least one of name, capabilities, metadata")
	}
	var v federation.Checks
	if p.Name != nil {
		v.Check(strings.TrimSpace(*p.Name) != "", "name", "must not be empty")
		v.Check(len(*p.Name) <= maxNameLen, "name", "must be at most 200 characters")
	}
	if p.Metadata != nil {
		var obj map[string]json.RawMessage
		v.Check(json.Unmarshal(*p.Metadata, &obj) == nil && obj != nil, "metadata", "must be a JSON object")
		v.Check(len(*p.Metadata) <= maxMetadataLen, "metadata", "must be at most 16 KiB")
	}
	if c := p.Capabilities; c != nil {
		checkTypes(&v, "capabilities.commandTypes", c.CommandTypes)
		checkTypes(&v, "capabilities.eventTypes", c.EventTypes)
	}
	return v.Err()
}

func checkTypes(v *federation.Checks, field string, list *[]string) {
	if list == nil {
		return
	}
	v.Check(len(*list) <= maxTypes, field, "must have at most 200 entries")
	for _, t := range *list {
		if !federation.ValidTypeName(t) {
			v.Check(false, field, fmt.Sprintf("entries must be dot-separated lower-case words such as task.created, got %q", t))
			return
		}
	}
}

// Update validates and applies a patch. store.ErrConflict if the identity
// changed concurrently.
func (s *Service) Update(ctx context.Context, p Patch) (Document, error) {
	if err := p.check(); err != nil {
		return Document{}, err
	}
	rec, err := s.Ensure(ctx)
	if err != nil {
		return Document{}, err
	}
	if p.Name != nil {
		rec.Name = *p.Name
	}
	if c := p.Capabilities; c != nil {
		if c.CommandTypes != nil {
			rec.CommandTypes = nonNil(*c.CommandTypes)
		}
		if c.EventTypes != nil {
			rec.EventTypes = nonNil(*c.EventTypes)
		}
	}
	if p.Metadata != nil {
		rec.Metadata = string(*p.Metadata)
	}
	rec.UpdatedAt = s.now().UTC()
	if err := s.repo.Update(ctx, rec); err != nil {
		return Document{}, err
	}
	return s.document(rec), nil
}

// RotateInput is the optional body of a key rotation.
type RotateInput struct {
	// Revoke withdraws the current key at once instead of retiring it.
	Revoke bool `json:"revoke"`
}

// MaxPublishedKeys bounds the keys the document publishes (PROTOCOL.md §3,
// §5): peers refuse a document with more.
const MaxPublishedKeys = 10

// RotateKeys makes a new current key and retires the old one (it still
// verifies during the grace period), or with revoke withdraws it at once
// (for a key that may be compromised: it leaves the document now, and peers
// stop accepting it within their hourly refresh). Keys retired longer than
// the grace period are dropped, and the oldest retired ones too beyond
// MaxPublishedKeys. store.ErrConflict if another rotation or update won.
func (s *Service) RotateKeys(ctx context.Context, revoke bool) (Document, error) {
	rec, err := s.Ensure(ctx)
	if err != nil {
		return Document{}, err
	}
	now := s.now().UTC()
	key, err := s.newKey(ctx, rec.InstanceID, now)
	if err != nil {
		return Document{}, err
	}
	kept := []store.KeyRecord{key}
	for _, k := range rec.Keys {
		if k.Status == KeyCurrent {
			if revoke {
				continue
			}
			k.Status, k.RetiredAt = KeyRetired, &now
		}
		if s.withinGrace(k, now) {
			kept = append(kept, k)
		}
	}
	// Newest retired first after the new key: the oldest go first.
	slices.SortStableFunc(kept[1:], func(a, b store.KeyRecord) int { return b.RetiredAt.Compare(*a.RetiredAt) })
	rec.Keys, rec.UpdatedAt = kept[:min(len(kept), MaxPublishedKeys)], now
	if err := s.repo.Update(ctx, rec); err != nil {
		return Document{}, err
	}
	s.mu.Lock()
	s.signer = nil // sign with the new key from now on
	s.mu.Unlock()
	return s.document(rec), nil
}

func (s *Service) withinGrace(k store.KeyRecord, now time.Time) bool {
	return k.Status == KeyCurrent || (k.RetiredAt != nil && now.Sub(*k.RetiredAt) < s.settings.RetiredGrace)
}

// Signer returns the current private key. It is decrypted once and reused;
// after SignerRefresh the identity is re-read (one GetItem) and the key
// decrypted again only if it was rotated meanwhile.
func (s *Service) Signer(ctx context.Context) (*signing.PrivateKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.signer != nil && now.Sub(s.signerRead) < s.settings.SignerRefresh {
		return s.signer, nil
	}
	rec, err := s.Ensure(ctx)
	if err != nil {
		return nil, err
	}
	cur, err := current(rec)
	if err != nil {
		return nil, err
	}
	if s.signer == nil || s.signer.ID() != cur.KeyID {
		key, err := s.sealer.Open(ctx, rec.InstanceID, cur.KeyID, cur.Alg, cur.Sealed)
		if err != nil {
			return nil, err
		}
		s.signer = key
	}
	s.signerRead = now
	return s.signer, nil
}

func current(rec *store.InstanceRecord) (store.KeyRecord, error) {
	i := slices.IndexFunc(rec.Keys, func(k store.KeyRecord) bool { return k.Status == KeyCurrent })
	if i < 0 {
		return store.KeyRecord{}, fmt.Errorf("instance %s has no current key", rec.InstanceID)
	}
	return rec.Keys[i], nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
