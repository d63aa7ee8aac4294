package messaging

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/fedgate/fedgate/shared/delivery"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/identity"
	"github.com/fedgate/fedgate/shared/incoming"
	"github.com/fedgate/fedgate/shared/peer"
	"github.com/fedgate/fedgate/shared/platform"
	"github.com/fedgate/fedgate/shared/queue"
	"github.com/fedgate/fedgate/shared/store"
)

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
	Identity    *identity.Service
	Signer      *delivery.Signer
	Peers       *peer.Client
	Outbox      *delivery.Outbox
	Jobs        *queue.Sender
	Verifier    *incoming.Verifier
	// Acks retries event deliveries whose EVENT_ACK is overdue: their
	// deadlines share the index command deadlines use.
	Acks *delivery.Deliverer
	// QueryBackend and CommandBackend answer what no built-in does (nil: none).
	QueryBackend, CommandBackend *platform.Relay
	Retry                        federation.RetryPolicy
	CommandTimeout               time.Duration
	Log                          *slog.Logger
	Now                          func() time.Time
}

// Service runs the QUERY and COMMAND use cases.
type Service struct {
	connections    *store.Connections
	messages       *store.Messages
	identity       *identity.Service
	signer         *delivery.Signer
	peers          *peer.Client
	outbox         *delivery.Outbox
	jobs           *queue.Sender
	verifier       *incoming.Verifier
	acks           *delivery.Deliverer
	queryBackend   *platform.Relay
	commandBackend *platform.Relay
	retry          federation.RetryPolicy
	commandTimeout time.Duration
	log            *slog.Logger
	now            func() time.Time
	queries        map[string]platform.Func
	commands       map[string]command
}

// New returns the service with its own built-in query, federation.instance.
func New(d Deps) *Service {
	if d.Now == nil {
		d.Now = time.Now
	}
	s := &Service{
		connections:    d.Connections,
		messages:       d.Messages,
		identity:       d.Identity,
		signer:         d.Signer,
		peers:          d.Peers,
		outbox:         d.Outbox,
		jobs:           d.Jobs,
		verifier:       d.Verifier,
		acks:           d.Acks,
		queryBackend:   d.QueryBackend,
		commandBackend: d.CommandBackend,
		retry:          d.Retry,
		commandTimeout: d.CommandTimeout,
		log:            d.Log,
		now:            d.Now,
		queries:        map[string]platform.Func{},
		commands:       map[string]command{},
	}
	s.RegisterQuery(federation.QueryInstance, func(ctx context.Context, _ platform.Request) (federation.Response, error) {
		doc, err := s.identity.Document(ctx)
		if err != nil {
			return federation.Response{}, err
		}
		return platform.Success(doc)
	})
	return s
}

// RegisterQuery adds a built-in query answered by fn.
func (s *Service) RegisterQuery(name string, fn platform.Func) { s.queries[name] = fn }
