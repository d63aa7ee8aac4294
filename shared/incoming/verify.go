package incoming

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/httpapi"
	"github.com/fedgate/fedgate/shared/identity"
	"github.com/fedgate/fedgate/shared/ids"
	"github.com/fedgate/fedgate/shared/metrics"
	"github.com/fedgate/fedgate/shared/peer"
	"github.com/fedgate/fedgate/shared/ratelimit"
	"github.com/fedgate/fedgate/shared/store"
	"github.com/fedgate/fedgate/shared/trace"
)

// Key freshness (PROTOCOL.md §3): a peer's keys are fetched again on an
// unknown keyId at most once a minute per connection, and at least once an
// hour while the connection is used (a key the peer withdrew, or revoked,
// stops verifying within the hour).
const (
	RefetchEvery = time.Minute
	RefreshAfter = time.Hour
)

// CacheFor bounds how long a container keeps a connection's record
// (PROTOCOL.md §3, "Caching"): a suspension, disconnection or key withdrawal
// takes effect for incoming envelopes within it.
const CacheFor = 5 * time.Second

// storesMessage lists the envelope types whose receiver stores a message and
// keeps the answer in it; the others keep a de-duplication record. Knowing
// which saves one read per incoming envelope. A QUERY is answered afresh
// every time (it has no effects), so it has no first answer to look up.
var storesMessage = map[string]bool{federation.EnvCommand: true, federation.EnvEvent: true}

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
	// URL is this instance's url: every envelope's toUrl must name its origin.
	URL string
	// RefetchEvery bounds how often a peer's keys are fetched again on an
	// unknown keyId (zero: RefetchEvery).
	RefetchEvery time.Duration
	// Limiter refuses the envelopes of a connection beyond its limit with
	// 429 rate_limited, once their signature verified (nil: no limit).
	Limiter *ratelimit.Limiter
	// Junk bounds the envelopes one source address may send that fail
	// verification (zero: DefaultJunk), counted in memory, never in the
	// connection's window.
	Junk    ratelimit.Rule
	Metrics *metrics.Recorder // counts every envelope: accepted, duplicate, or refused with its code
	Now     func() time.Time  // nil: time.Now
}

// Verifier runs the verification steps. It is a cold-start singleton: it
// remembers when it last fetched each peer's keys, so junk envelopes cannot
// make it hammer a peer, keeps each connection's record for CacheFor, and
// counts the failures of each source address.
type Verifier struct {
	conns   *store.Connections
	answers *store.Messages
	peers   *peer.Client
	self    Self
	origin  string
	now     func() time.Time
	fetches *keyFetches
	cache   *connCache
	junk    *junkCounter
	limiter *ratelimit.Limiter
	metrics *metrics.Recorder
}

// New returns a Verifier.
func New(d Deps) *Verifier {
	if d.RefetchEvery == 0 {
		d.RefetchEvery = RefetchEvery
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if !d.Junk.Valid() {
		d.Junk = DefaultJunk
	}
	origin, _ := federation.Origin(strings.TrimSuffix(d.URL, "/"))
	return &Verifier{
		conns:   d.Connections,
		answers: d.Messages,
		peers:   d.Peers,
		self:    d.Self,
		origin:  origin,
		now:     d.Now,
		fetches: newKeyFetches(d.RefetchEvery),
		cache:   newConnCache(CacheFor),
		junk:    newJunkCounter(d.Junk),
		limiter: d.Limiter,
		metrics: d.Metrics,
	}
}

// Envelope is a verified incoming envelope.
type Envelope struct {
	federation.Envelope
	Raw  []byte                 // the whole envelope as received
	Conn *federation.Connection // the connection it arrived on
	// Duplicate is the first outcome if this messageId was seen before on
	// the connection: the answer to give is it, signed afresh (Respond).
	Duplicate *store.Outcome
}

// Traced is ctx with the peer's trace context as the remote parent of this
// instance's own trace (PROTOCOL.md §9), adopted only now that the envelope
// verified: logs and the messages stored name it as remoteTraceId.
func (e *Envelope) Traced(ctx context.Context) context.Context {
	if tc, ok := trace.Parse(e.Traceparent); ok {
		return trace.WithRemote(ctx, tc)
	}
	return ctx
}

// Parse runs steps 1, 2 and 2a: the body parses, has the common members,
// the expected type and members matched exactly, its numbers can be signed
// faithfully, it is fresh, and it is addressed to this instance (its id and
// its origin). It decodes the type-specific members into members (when not
// nil). CONNECT, which has no connection yet, uses it directly.
func (v *Verifier) Parse(ctx context.Context, raw []byte, wantType string, members any) (federation.Envelope, error) {
	var env federation.Envelope
	if err := v.parseHead(raw, &env, members); err != nil {
		return env, err
	}
	if err := env.Check(wantType); err != nil {
		return env, federation.Invalidf("%v", err)
	}
	if err := v.freshAndForUs(ctx, env); err != nil {
		return env, err
	}
	if members != nil {
		if err := decodeMembers(raw, members); err != nil {
			return env, err
		}
	}
	return env, nil
}

func decodeMembers(raw []byte, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return federation.Invalidf("envelope members: %v", err)
	}
	return nil
}

func (v *Verifier) parseHead(raw []byte, head any, members any) error {
	if err := json.Unmarshal(raw, head); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) || len(raw) == 0 {
			return federation.Errorf(federation.CodeInvalidJSON, "body is not a JSON envelope: %v", err)
		}
		return federation.Invalidf("envelope: %v", err)
	}
	if err := federation.CheckMembers(raw, head, members); err != nil {
		return err
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
		return federation.Errorf(federation.CodeWrongRecipient, "the envelope is addressed to another instance id")
	}
	if to, ok := federation.Origin(env.ToURL); !ok || to != v.origin {
		return federation.Errorf(federation.CodeWrongRecipient, "the envelope's toUrl is not this instance's url")
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

// verify runs the steps. Nothing about the connection is charged or written
// before the signature verified: its rate window is spent after step 4, and
// a failure until then counts against the source address alone, in memory.
func (v *Verifier) verify(ctx context.Context, raw []byte, wantType string, members any, statuses ...federation.ConnStatus) (*Envelope, error) {
	source := httpapi.Source(ctx)
	in, err := v.authenticate(ctx, raw, wantType, members, source, statuses)
	if err != nil {
		if e, ok := federation.AsError(err); ok && e.Code != federation.CodeRateLimited && e.Code != federation.CodeInternal {
			v.junk.failed(source, v.now())
		}
		return nil, err
	}
	v.junk.verified(in.Conn.ID, v.now())
	// The limit comes after the signature (nobody who merely knows a
	// connection id can spend the peer's window) and before the duplicate
	// lookup, storing and answering.
	if ok, wait := v.limiter.Allow(ctx, in.Conn.ID); !ok {
		return nil, &federation.Error{Code: federation.CodeRateLimited, RetryAfter: wait,
			Message: fmt.Sprintf("the connection sends more than its limit; retry after %s", wait)}
	}
	if err := v.lookupFirst(ctx, in, wantType); err != nil {
		return nil, err
	}
	return in, nil
}

// authenticate runs steps 1 to 4: the envelope, its connection, its signature.
func (v *Verifier) authenticate(ctx context.Context, raw []byte, wantType string, members any, source string, statuses []federation.ConnStatus) (*Envelope, error) {
	env, err := v.Parse(ctx, raw, wantType, members)
	if err != nil {
		return nil, err
	}
	conn, cached, err := v.connection(ctx, env.ConnectionID, source)
	if err != nil {
		return nil, err
	}
	if err := admits(conn, env, statuses); err != nil {
		if !cached {
			return nil, err
		}
		// A cached record refuses nothing on its own: the connection may
		// have become ACTIVE since (the cache only delays what ends it).
		if conn, err = v.read(ctx, env.ConnectionID); err != nil {
			return nil, err
		}
		if err := admits(conn, env, statuses); err != nil {
			return nil, err
		}
	}
	if err := v.checkSignature(ctx, conn, env.KeyID, raw); err != nil {
		return nil, err
	}
	return &Envelope{Envelope: env, Raw: raw, Conn: conn}, nil
}

// connection is step 3's read: from this container's cache when it read the
// connection within CacheFor, else from the store — unless the source
// address has spent its allowance of failures, which costs no store call.
func (v *Verifier) connection(ctx context.Context, id, source string) (conn *federation.Connection, cached bool, err error) {
	now := v.now()
	if c, ok := v.cache.get(id, now); ok {
		return c, true, nil
	}
	if over, wait := v.junk.over(source, now); over && !v.junk.trusted(id, now) {
		return nil, false, &federation.Error{Code: federation.CodeRateLimited, RetryAfter: wait,
			Message: "too many envelopes from this address failed verification; retry after " + wait.String()}
	}
	conn, err = v.read(ctx, id)
	return conn, false, err
}

// read reads a connection from the store into the cache.
func (v *Verifier) read(ctx context.Context, id string) (*federation.Connection, error) {
	conn, err := v.conns.GetByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, federation.Errorf(federation.CodeUnknownKey, "unknown connection %s", id)
	}
	if err != nil {
		return nil, err
	}
	v.cache.put(conn, v.now())
	return conn.Clone(), nil
}

// admits is step 3's rule: the connection is the sender's and in one of
// statuses (ACTIVE when none are given). A connection that ended is 410
// connection_ended, final for the sender; any other is connection_not_active,
// which the sender holds. Neither names whose connection it is.
func admits(conn *federation.Connection, env federation.Envelope, statuses []federation.ConnStatus) error {
	if conn.RemoteInstanceID != env.InstanceID {
		return federation.Errorf(federation.CodeNotActive, "connection %s is not active for this sender", conn.ID)
	}
	if len(statuses) == 0 {
		statuses = []federation.ConnStatus{federation.StatusActive}
	}
	switch {
	case slices.Contains(statuses, conn.Status):
		return nil
	case conn.Status.Ended():
		return federation.Errorf(federation.CodeConnectionEnded, "connection %s has ended", conn.ID)
	}
	return federation.Errorf(federation.CodeNotActive, "connection %s is not active", conn.ID)
}

// lookupFirst is step 5: the outcome this messageId got before on the
// connection, if any.
func (v *Verifier) lookupFirst(ctx context.Context, in *Envelope, wantType string) error {
	if wantType == federation.EnvQuery {
		return nil // answered afresh every time
	}
	var first *store.Outcome
	var err error
	if storesMessage[wantType] {
		first, err = v.answers.StoredAnswer(ctx, in.Conn.WorkspaceID, in.Conn.ID, in.MessageID)
	} else {
		first, err = v.answers.RecordedAnswer(ctx, in.Conn.ID, in.MessageID)
	}
	switch {
	case err == nil:
		in.Duplicate = first
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	return nil
}

// VerifyAnswer verifies a signed answer that came back in a response body
// (CONNECT_RESPONSE, QUERY_RESPONSE, EVENT_ACK) exactly like an incoming
// envelope: its members, numbers, freshness, recipient, that it answers the
// expected message on conn, and its signature with the peer's keys (fetched
// again when the peer rotated), so a peer's key rotation never breaks its
// answers. The members are decoded into members (when not nil).
func (v *Verifier) VerifyAnswer(ctx context.Context, conn *federation.Connection, want federation.ExpectedAnswer, raw []byte, members any) error {
	var head struct {
		federation.Envelope
		CorrelationID string `json:"correlationId"`
	}
	if err := v.parseHead(raw, &head, members); err != nil {
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
// share that fetch's result) or the keys are more than an hour old; fetched
// keys replace the stored ones entirely, so a key the peer withdrew stops
// verifying. A key that could not be confirmed because the fetch failed is
// unknown_key, which the sender holds and retries. Fetched keys are stored
// only once the signature verified with them: nothing about a connection is
// written before its envelope is proven to come from the peer.
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
			// A failed hourly refresh keeps the keys it has.
		default:
			return federation.Errorf(federation.CodeUnknownKey, "key %s could not be confirmed with the peer's published keys", keyID)
		}
	}
	if !ok {
		return federation.Errorf(federation.CodeUnknownKey, "key %s is not a usable key of the peer", keyID)
	}
	if err := federation.VerifyWith(k, raw); err != nil {
		return err
	}
	if !fetchedAt.IsZero() {
		conn.RemoteKeys, conn.KeysFetchedAt = keys, fetchedAt
		if err := v.conns.SetRemoteKeys(ctx, conn.WorkspaceID, conn.ID, keys, fetchedAt); err != nil {
			return fmt.Errorf("store the peer's keys: %w", err)
		}
		v.cache.put(conn, now)
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

// Signer signs answers as this instance (delivery.Signer; an interface
// because delivery verifies answers with this package).
type Signer interface {
	Sign(ctx context.Context, to *federation.Connection, messageID, envType string, body any) ([]byte, error)
}

// Respond returns the answer for a verified envelope: for a duplicate the
// first outcome, otherwise what persist produces and stores; a signed
// outcome is signed now, so a duplicate that comes hours later still gets an
// answer its sender can verify (PROTOCOL.md §3 step 5). persist must store
// the outcome atomically with its effects (Messages.CreateIncoming); if it
// reports a concurrent duplicate, that duplicate's first outcome wins.
func Respond(ctx context.Context, signer Signer, in *Envelope, persist func() (store.Outcome, error)) (store.Outcome, error) {
	if in.Duplicate != nil {
		return Seal(ctx, signer, in.Conn, in.MessageID, *in.Duplicate)
	}
	o, err := persist()
	var dup *store.ErrDuplicate
	switch {
	case errors.As(err, &dup):
		o = dup.First
	case errors.Is(err, store.ErrExists):
		return store.Outcome{}, federation.Conflictf("messageId %s is already used by another message", in.MessageID)
	case err != nil:
		return store.Outcome{}, err
	}
	return Seal(ctx, signer, in.Conn, in.MessageID, o)
}

// Seal turns a recorded outcome into the answer to send: a signed one is
// signed afresh on conn (a new timestamp, the current key) under the id
// derived from the request, the same every time; an unsigned one is sent as
// recorded.
func Seal(ctx context.Context, signer Signer, conn *federation.Connection, requestID string, o store.Outcome) (store.Outcome, error) {
	if o.SignAs == "" {
		return o, nil
	}
	signed, err := signer.Sign(ctx, conn, AnswerID(conn.ID, requestID, o.SignAs), o.SignAs, json.RawMessage(o.Body))
	if err != nil {
		return store.Outcome{}, err
	}
	return store.Outcome{Status: o.Status, Body: string(signed)}, nil
}

// AnswerID is the messageId of the answer of type envType to request
// requestID on a connection: derived, so every answer to it is one message.
func AnswerID(connID, requestID, envType string) string {
	return ids.Derived(connID, requestID, envType)
}

// AnswerJSON builds an unsigned outcome with a JSON body.
func AnswerJSON(status int, body any) store.Outcome {
	data, err := json.Marshal(body)
	if err != nil {
		panic(fmt.Sprintf("incoming: answer of %T does not encode: %v", body, err)) // only our own types reach here
	}
	return store.Outcome{Status: status, Body: string(data)}
}

// SignedAnswer builds an outcome that is signed as envType whenever it is
// sent: its members are what is recorded.
func SignedAnswer(status int, envType string, members any) store.Outcome {
	o := AnswerJSON(status, members)
	o.SignAs = envType
	return o
}
