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
	"github.com/fedgate/fedgate/shared/metrics"
	"github.com/fedgate/fedgate/shared/peer"
	"github.com/fedgate/fedgate/shared/ratelimit"
	"github.com/fedgate/fedgate/shared/store"
)

// Key freshness (PROTOCOL.md §3): a peer's keys are fetched again on an
// unknown keyId at most once a minute per connection, and at least once a
// day while the connection is used.
const (
	RefetchEvery = time.Minute
	RefreshAfter = 24 * time.Hour
)

// storesMessage lists the envelope types whose receiver stores a message and
// keeps the answer in it; the others keep a de-duplication record. Knowing
// which saves one read per incoming envelope.
var storesMessage = map[string]bool{federation.EnvQuery: true, federation.EnvCommand: true, federation.EnvEvent: true}

// Self names this instance (identity.Service): the recipient every
// envelope must name. An interface so that parsing is fuzzed without a store.
type Self interface {
	ID(ctx context.Context) (string, error)
}

// Deps is what the Verifier needs.
type Deps struct {
	Connections *store.Connections
	// Messages hold the first answers given to incoming envelopes: kept in
	// the stored message itself, or in a de-duplication record for
	// envelopes that store none.
	Messages *store.Messages
	Peers    *peer.Client // fetches a peer's published identity (its keys)
	Self     Self         // names this instance, the recipient every envelope must name
	// RefetchEvery bounds how often a peer's keys are fetched again on an
	// unknown keyId (zero: RefetchEvery).
	RefetchEvery time.Duration
	// Limiter refuses the envelopes of a connection beyond its limit with
	// 429 rate_limited, before their signature is checked or anything is
	// stored (nil: no limit).
	Limiter *ratelimit.Limiter
	Metrics *metrics.Recorder // counts every envelope: accepted, duplicate, or refused with its code
}

// Verifier runs the verification steps. It is a cold-start singleton: it
// remembers when it last fetched each peer's keys, so junk envelopes cannot
// make it hammer a peer.
type Verifier struct {
	conns   *store.Connections
	answers *store.Messages
	peers   *peer.Client
	self    Self
	now     func() time.Time
	fetches *keyFetches
	limiter *ratelimit.Limiter
	metrics *metrics.Recorder
}

// New returns a Verifier.
func New(d Deps) *Verifier {
	if d.RefetchEvery == 0 {
		d.RefetchEvery = RefetchEvery
	}
	return &Verifier{
		conns:   d.Connections,
		answers: d.Messages,
		peers:   d.Peers,
		self:    d.Self,
		now:     time.Now,
		fetches: newKeyFetches(d.RefetchEvery),
		limiter: d.Limiter,
		metrics: d.Metrics,
	}
}

// Envelope is a verified incoming envelope.
type Envelope struct {
	federation.Envelope
	Raw  []byte                 // the whole envelope as received
	Conn *federation.Connection // the connection it arrived on
	// Duplicate is the first answer if this messageId was seen before on the
	// connection; the answer to give is exactly it.
	Duplicate *store.Outcome
}

// Decode unmarshals the type-specific members into v.
func (e *Envelope) Decode(v any) error { return decodeMembers(e.Raw, v) }

func decodeMembers(raw []byte, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return federation.Invalidf("envelope members: %v", err)
	}
	return nil
}

// Parse runs steps 1, 2 and 2a: the body parses, has the common members and
// the expected type, its numbers can be signed faithfully, it is fresh, and
// it is addressed to this instance. CONNECT, which has no connection yet,
// uses it directly.
func (v *Verifier) Parse(ctx context.Context, raw []byte, wantType string) (federation.Envelope, error) {
	var env federation.Envelope
	if err := v.parseHead(raw, &env); err != nil {
		return env, err
	}
	if err := env.Check(wantType); err != nil {
		return env, federation.Invalidf("%v", err)
	}
	return env, v.freshAndForUs(ctx, env)
}

func (v *Verifier) parseHead(raw []byte, head any) error {
	if err := json.Unmarshal(raw, head); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) || len(raw) == 0 {
			return federation.Errorf(federation.CodeInvalidJSON, "body is not a JSON envelope: %v", err)
		}
		return federation.Invalidf("envelope: %v", err)
	}
	return federation.CheckNumbers(raw)
}

func (v *Verifier) freshAndForUs(ctx context.Context, env federation.Envelope) error {
	if !env.Fresh(v.now()) {
		return federation.Errorf(federation.CodeStaleTimestamp, "timestamp is more than 5 minutes from now")
	}
	self, err := v.self.ID(ctx)
	if err != nil {
		return err
	}
	if env.ToInstanceID != self {
		return federation.Errorf(federation.CodeWrongRecipient, "the envelope is addressed to %s, not to this instance", env.ToInstanceID)
	}
	return nil
}

// Verify runs every step for an envelope of wantType on a connection whose
// status is one of statuses (ACTIVE when none are given), and decodes its
// members into members (when not nil).
func (v *Verifier) Verify(ctx context.Context, raw []byte, wantType string, members any, statuses ...federation.ConnStatus) (*Envelope, error) {
	in, err := v.verify(ctx, raw, wantType, members, statuses...)
	switch e, known := federation.AsError(err); {
	case err == nil && in.Duplicate != nil:
		v.metrics.Incoming(wantType, "duplicate", "")
	case err == nil:
		v.metrics.Incoming(wantType, "accepted", "")
	case known:
		v.metrics.Incoming(wantType, "refused", string(e.Code))
	default:
		v.metrics.Incoming(wantType, "refused", string(federation.CodeInternal))
	}
	return in, err
}

func (v *Verifier) verify(ctx context.Context, raw []byte, wantType string, members any, statuses ...federation.ConnStatus) (*Envelope, error) {
	env, err := v.Parse(ctx, raw, wantType)
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
		statuses = []federation.ConnStatus{federation.StatusActive}
	}
	if !slices.Contains(statuses, conn.Status) {
		return nil, federation.Errorf(federation.CodeNotActive, "connection %s is %s", conn.ID, conn.Status)
	}
	// The limit comes after the connection is known (so junk ids make no
	// windows) and before the expensive work: the signature, the duplicate
	// lookup, storing and answering.
	if v.limiter != nil {
		if ok, wait := v.limiter.Allow(ctx, conn.ID); !ok {
			return nil, &federation.Error{Code: federation.CodeRateLimited, RetryAfter: wait,
				Message: fmt.Sprintf("connection %s sends more than its limit; retry after %s", conn.ID, wait)}
		}
	}
	if err := v.checkSignature(ctx, conn, env.KeyID, raw); err != nil {
		return nil, err
	}
	in := &Envelope{Envelope: env, Raw: raw, Conn: conn}
	if members != nil {
		if err := in.Decode(members); err != nil {
			return nil, err
		}
	}
	lookup := func() (*store.Outcome, error) { return v.answers.RecordedAnswer(ctx, conn.ID, env.MessageID) }
	if storesMessage[wantType] {
		lookup = func() (*store.Outcome, error) {
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

// VerifyAnswer verifies a signed answer that came back in a response body
// (CONNECT_RESPONSE, QUERY_RESPONSE, EVENT_ACK) exactly like an incoming
// envelope: its numbers, freshness, recipient, that it answers the expected
// message on conn, and its signature with the peer's keys (fetched again
// when the peer rotated), so a peer's key rotation never breaks its answers.
// The members are decoded into members (when not nil).
func (v *Verifier) VerifyAnswer(ctx context.Context, conn *federation.Connection, want federation.ExpectedAnswer, raw []byte, members any) error {
	var head struct {
		federation.Envelope
		CorrelationID string `json:"correlationId"`
	}
	if err := v.parseHead(raw, &head); err != nil {
		return err
	}
	if err := want.Check(conn, head.Envelope, head.CorrelationID); err != nil {
		return err
	}
	if err := v.freshAndForUs(ctx, head.Envelope); err != nil {
		return err
	}
	if err := v.checkSignature(ctx, conn, head.KeyID, raw); err != nil {
		return err
	}
	if members != nil {
		return decodeMembers(raw, members)
	}
	return nil
}

// checkSignature verifies with the peer key named by keyID (or its current
// key). The peer's GET /instance is fetched again when the key is unknown
// or expired (at most once a minute per connection; envelopes in between
// share that fetch's result) or the keys are more
// than a day old; fetched keys replace the stored ones entirely, so a key
// the peer withdrew stops verifying. They are stored only once the
// signature verified with them: nothing about a connection is written
// before its envelope is proven to come from the peer.
func (v *Verifier) checkSignature(ctx context.Context, conn *federation.Connection, keyID string, raw []byte) error {
	now := v.now()
	keys := conn.RemoteKeys
	k, ok := findKey(keys, keyID, now)
	stale := now.Sub(conn.KeysFetchedAt) >= RefreshAfter
	var fetchedAt time.Time // of keys newer than the stored ones
	if !ok || stale {
		doc, at, err := v.fetches.fetch(ctx, conn.ID, now, func() (*identity.Document, error) {
			return v.peers.FetchInstance(ctx, conn.RemoteURL)
		})
		switch {
		case err == nil && doc.InstanceID == conn.RemoteInstanceID:
			if at.After(conn.KeysFetchedAt) {
				keys, fetchedAt = doc.RemoteKeys(), at
				k, ok = findKey(keys, keyID, now)
			}
		case ok:
			// A failed daily refresh keeps the keys it has.
		default:
			return federation.Errorf(federation.CodeUnknownKey, "key %s is not a key of instance %s", keyID, conn.RemoteInstanceID)
		}
	}
	if !ok {
		return federation.Errorf(federation.CodeUnknownKey, "key %s is not a usable key of instance %s", keyID, conn.RemoteInstanceID)
	}
	if err := federation.VerifyWith(k, raw); err != nil {
		return err
	}
	if !fetchedAt.IsZero() {
		conn.RemoteKeys, conn.KeysFetchedAt = keys, fetchedAt
		if err := v.conns.SetRemoteKeys(ctx, conn.WorkspaceID, conn.ID, keys, fetchedAt); err != nil {
			return fmt.Errorf("store the peer's keys: %w", err)
		}
	}
	return nil
}

// findKey returns the usable key named keyID, or the current key when keyID
// is empty.
func findKey(keys []federation.RemoteKey, keyID string, now time.Time) (federation.RemoteKey, bool) {
	i := slices.IndexFunc(keys, func(k federation.RemoteKey) bool {
		if keyID == "" {
			return k.Status == identity.KeyCurrent
		}
		return k.KeyID == keyID
	})
	if i < 0 || !keys[i].Usable(now) {
		return federation.RemoteKey{}, false
	}
	return keys[i], true
}

// Respond returns the answer for a verified envelope: the stored first answer
// for a duplicate, otherwise what persist() produces and stores. persist must
// store the answer atomically with its effects (Messages.CreateIncoming); if
// it reports a concurrent duplicate, that duplicate's first answer wins.
func Respond(in *Envelope, persist func() (store.Outcome, error)) (store.Outcome, error) {
	if in.Duplicate != nil {
		return *in.Duplicate, nil
	}
	a, err := persist()
	var dup *store.ErrDuplicate
	switch {
	case errors.As(err, &dup):
		return dup.First, nil
	case errors.Is(err, store.ErrExists):
		return store.Outcome{}, federation.Conflictf("messageId %s is already used by another message", in.MessageID)
	}
	return a, err
}

// AnswerJSON builds an Answer with a JSON body.
func AnswerJSON(status int, body any) store.Outcome {
	data, err := json.Marshal(body)
	if err != nil {
		panic(fmt.Sprintf("incoming: answer of %T does not encode: %v", body, err)) // only our own types reach here
	}
	return store.Outcome{Status: status, Body: string(data)}
}
