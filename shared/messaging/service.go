package messaging

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/identity"
	"github.com/fedgate/fedgate/shared/incoming"
	"github.com/fedgate/fedgate/shared/peer"
	"github.com/fedgate/fedgate/shared/platform"
	"github.com/fedgate/fedgate/shared/queue"
	"github.com/fedgate/fedgate/shared/store"
)

// Identity is this instance's published identity.
type Identity interface {
	Document(ctx context.Context) (identity.Document, error)
}

// Signer signs envelopes as this instance.
type Signer interface {
	Sign(ctx context.Context, to *federation.Connection, messageID, envType string, body any) ([]byte, error)
}

// Poster sends signed envelopes to peers.
type Poster interface {
	Post(ctx context.Context, baseURL, path string, body []byte) (*peer.Reply, error)
}

// Outbox stores records and queues their jobs crash-safely.
type Outbox interface {
	Create(ctx context.Context, rec *store.MessageRecord) error
	Kick(ctx context.Context, rec *store.MessageRecord)
}

// Jobs sends queue jobs.
type Jobs interface {
	Send(ctx context.Context, queue string, job queue.Job, delay time.Duration) error
}

// EnvelopeVerifier verifies incoming envelopes.
type EnvelopeVerifier interface {
	Verify(ctx context.Context, raw []byte, wantType string, members any, statuses ...federation.ConnStatus) (*incoming.Envelope, error)
}

// Verifier verifies incoming envelopes and signed answers in response bodies.
type Verifier interface {
	EnvelopeVerifier
	VerifyAnswer(ctx context.Context, conn *federation.Connection, want federation.Answer, raw []byte, members any) error
}

// AckDeadlines retries event deliveries whose EVENT_ACK is overdue (the
// deliverer): their deadlines share the index command deadlines use.
type AckDeadlines interface {
	AckOverdue(ctx context.Context, rec *store.MessageRecord) error
}

// Builtin is a built-in command type whose payload is a P: Parse reads and
// checks a payload once (its error names the field: the peer is refused
// before the command is accepted, or answered success false), Run executes
// the parsed value in the dispatcher, and Answered (optional) learns of the
// answer to each command of this type that this instance sent (the
// capability keeps its records).
type Builtin[P any] struct {
	Name     string
	Parse    func(payload json.RawMessage) (P, error)
	Run      func(ctx context.Context, req platform.Request, p P) (federation.Response, error)
	Answered func(ctx context.Context, rec *store.MessageRecord)
}

// command is a registered built-in with its payload type erased.
type command struct {
	check    func(payload json.RawMessage) error
	run      platform.Func
	answered func(ctx context.Context, rec *store.MessageRecord)
}

// RegisterCommand adds a built-in command type to m.
func RegisterCommand[P any](m *Service, b Builtin[P]) {
	m.commands[b.Name] = command{
		check: func(payload json.RawMessage) error {
			_, err := b.Parse(payload)
			return err
		},
		run: func(ctx context.Context, req platform.Request) (federation.Response, error) {
			p, err := b.Parse(req.Payload)
			if err != nil {
				return platform.Failure(err.Error()), nil
			}
			return b.Run(ctx, req, p)
		},
		answered: b.Answered,
	}
}

// Deps is what the service needs.
type Deps struct {
	Connections *store.Connections
	Messages    *store.Messages
	Identity    Identity
	Signer      Signer
	Peers       Poster
	Outbox      Outbox
	Jobs        Jobs
	Verifier    Verifier
	Acks        AckDeadlines
	// QueryBackend and CommandBackend answer what no built-in does (nil: none).
	QueryBackend, CommandBackend *platform.Relay
	Retry                        federation.RetryPolicy
	CommandTimeout               time.Duration
	Log                          *slog.Logger
	Now                          func() time.Time
}

// Service runs the QUERY and COMMAND use cases.
type Service struct {
	Deps
	queries  map[string]platform.Func
	commands map[string]command
}

// New returns the service with its own built-in query, federation.instance.
func New(d Deps) *Service {
	if d.Now == nil {
		d.Now = time.Now
	}
	s := &Service{Deps: d, queries: map[string]platform.Func{}, commands: map[string]command{}}
	s.RegisterQuery(federation.QueryInstance, func(ctx context.Context, _ platform.Request) (federation.Response, error) {
		doc, err := s.Identity.Document(ctx)
		if err != nil {
			return federation.Response{}, err
		}
		return platform.Success(doc)
	})
	return s
}

// RegisterQuery adds a built-in query answered by fn.
func (s *Service) RegisterQuery(name string, fn platform.Func) { s.queries[name] = fn }
