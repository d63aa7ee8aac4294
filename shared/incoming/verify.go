package incoming

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/identity"
	"github.com/fedgate/fedgate/shared/store"
)

// Connections is the connection storage verification needs.
type Connections interface {
	GetByID(ctx context.Context, id string) (*federation.Connection, error)
	SetRemoteKeys(ctx context.Context, ws, id string, keys []federation.RemoteKey) error
}

// Answers is the de-duplication storage: answers kept in the stored message
// itself, or in a de-duplication record for envelopes that store none.
type Answers interface {
	StoredAnswer(ctx context.Context, ws, connID, messageID string) (*store.Answer, error)
	RecordedAnswer(ctx context.Context, connID, messageID string) (*store.Answer, error)
}

// Peers fetches a peer's published identity (for its keys).
type Peers interface {
	FetchInstance(ctx context.Context, baseURL string) (*identity.Document, error)
}

// storesMessage lists the envelope types whose receiver stores a message and
// keeps the answer in it; the others keep a de-duplication record. Knowing
// which saves one read per incoming envelope.
var storesMessage = map[string]bool{federation.EnvQuery: true, federation.EnvCommand: true, federation.EnvEvent: true}

// Verifier runs the verification steps.
type Verifier struct {
	conns   Connections
	answers Answers
	peers   Peers
	now     func() time.Time
}

// New returns a Verifier.
func New(conns Connections, answers Answers, peers Peers) *Verifier {
	return &Verifier{conns: conns, answers: answers, peers: peers, now: time.Now}
}

// Envelope is a verified incoming envelope.
type Envelope struct {
	federation.Envelope
	Raw  []byte                 // the whole envelope as received
	Conn *federation.Connection // the connection it arrived on
	// Duplicate is the first answer if this messageId was seen before on the
	// connection; the answer to give is exactly it.
	Duplicate *store.Answer
}

// Decode unmarshals the type-specific members into v.
func (e *Envelope) Decode(v any) error {
	if err := json.Unmarshal(e.Raw, v); err != nil {
		return federation.Invalidf("envelope members: %v", err)
	}
	return nil
}

// Parse runs step 1 (and 2) only: the body parses, has the common members and
// the expected type, and is fresh. CONNECT, which has no connection yet, uses
// it directly.
func (v *Verifier) Parse(raw []byte, wantType string) (federation.Envelope, error) {
	var env federation.Envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) || len(raw) == 0 {
			return env, federation.Errorf(federation.CodeInvalidJSON, "body is not a JSON envelope: %v", err)
		}
		return env, federation.Invalidf("envelope: %v", err)
	}
	if err := env.Check(wantType); err != nil {
		return env, federation.Invalidf("%v", err)
	}
	if !env.Fresh(v.now()) {
		return env, federation.Errorf(federation.CodeStaleTimestamp, "timestamp is more than 5 minutes from now")
	}
	return env, nil
}

// Verify runs every step for an envelope of wantType on a connection whose
// status is one of statuses (ACTIVE when none are given), and decodes its
// members into members (when not nil).
func (v *Verifier) Verify(ctx context.Context, raw []byte, wantType string, members any, statuses ...string) (*Envelope, error) {
	env, err := v.Parse(raw, wantType)
	if err != nil {
		return nil, err
	}
	conn, err := v.conns.GetByID(ctx, env.ConnectionID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, federation.Errorf(federation.CodeUnknownKey, "unknown connection %s", env.ConnectionID)
	}
	if err != nil {
		return nil, err
	}
	if conn.RemoteInstanceID != env.InstanceID {
		return nil, federation.Errorf(federation.CodeNotActive, "connection %s does not belong to instance %s", conn.ID, env.InstanceID)
	}
	if len(statuses) == 0 {
		statuses = []string{federation.StatusActive}
	}
	if !slices.Contains(statuses, conn.Status) {
		return nil, federation.Errorf(federation.CodeNotActive, "connection %s is %s", conn.ID, conn.Status)
	}
	if err := v.checkSignature(ctx, conn, env, raw); err != nil {
		return nil, err
	}
	in := &Envelope{Envelope: env, Raw: raw, Conn: conn}
	if members != nil {
		if err := in.Decode(members); err != nil {
			return nil, err
		}
	}
	lookup := func() (*store.Answer, error) { return v.answers.RecordedAnswer(ctx, conn.ID, env.MessageID) }
	if storesMessage[wantType] {
		lookup = func() (*store.Answer, error) {
			return v.answers.StoredAnswer(ctx, conn.WorkspaceID, conn.ID, env.MessageID)
		}
	}
	switch first, err := lookup(); {
	case err == nil:
		in.Duplicate = first
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	return in, nil
}

// checkSignature verifies with the peer key named by keyId (or its current
// key), re-fetching the peer's GET /instance once when the key is unknown,
// since the peer may have rotated.
func (v *Verifier) checkSignature(ctx context.Context, conn *federation.Connection, env federation.Envelope, raw []byte) error {
	find := func() (federation.RemoteKey, bool) {
		if env.KeyID == "" {
			return conn.CurrentRemoteKey()
		}
		return conn.RemoteKey(env.KeyID)
	}
	k, ok := find()
	if !ok {
		doc, err := v.peers.FetchInstance(ctx, conn.RemoteURL)
		if err == nil && doc.InstanceID == conn.RemoteInstanceID {
			conn.RemoteKeys = RemoteKeys(doc.PublicKeys)
			if err := v.conns.SetRemoteKeys(ctx, conn.WorkspaceID, conn.ID, conn.RemoteKeys); err != nil {
				return err
			}
			k, ok = find()
		}
		if !ok {
			return federation.Errorf(federation.CodeUnknownKey, "key %s is not a key of instance %s", env.KeyID, conn.RemoteInstanceID)
		}
	}
	return federation.VerifyWith(k, raw)
}

// RemoteKeys converts a peer's published keys for storage.
func RemoteKeys(keys []identity.PublicKey) []federation.RemoteKey {
	out := make([]federation.RemoteKey, len(keys))
	for i, k := range keys {
		out[i] = federation.RemoteKey{KeyID: k.KeyID, Alg: k.Alg, PublicKey: k.PublicKey, Status: k.Status}
	}
	return out
}

// Respond returns the answer for a verified envelope: the stored first answer
// for a duplicate, otherwise what persist() produces and stores. persist must
// store the answer atomically with its effects (Messages.CreateIncoming); if
// it reports a concurrent duplicate, that duplicate's first answer wins.
func Respond(in *Envelope, persist func() (store.Answer, error)) (store.Answer, error) {
	if in.Duplicate != nil {
		return *in.Duplicate, nil
	}
	a, err := persist()
	var dup *store.ErrDuplicate
	switch {
	case errors.As(err, &dup):
		return dup.First, nil
	case errors.Is(err, store.ErrExists):
		return store.Answer{}, federation.Conflictf("messageId %s is already used by another message", in.MessageID)
	}
	return a, err
}

// AnswerJSON builds an Answer with a JSON body.
func AnswerJSON(status int, body any) store.Answer {
	data, err := json.Marshal(body)
	if err != nil {
		panic(fmt.Sprintf("incoming: answer of %T does not encode: %v", body, err)) // only our own types reach here
	}
	return store.Answer{Status: status, Body: string(data)}
}
