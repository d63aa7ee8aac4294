package connections

import (
	"context"
	"log/slog"
	"time"

	"github.com/fedgate/fedgate/shared/delivery"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/identity"
	"github.com/fedgate/fedgate/shared/incoming"
	"github.com/fedgate/fedgate/shared/operations"
	"github.com/fedgate/fedgate/shared/peer"
	"github.com/fedgate/fedgate/shared/store"
)

// Resumptions is told when a SUSPENDED connection is ACTIVE again (the
// events capability syncs subscriptions and catches up).
type Resumptions interface {
	Resumed(ctx context.Context, conn *federation.Connection, suspendedAt time.Time) error
}

// Deps is what the service needs.
type Deps struct {
	Connections *store.Connections
	Messages    *store.Messages
	Invites     *store.Invites
	Identity    *identity.Service
	Signer      *delivery.Signer
	Peers       *peer.Client
	Outbox      *delivery.Outbox
	Verifier    *incoming.Verifier
	Operators   *operations.Service // nil: nobody is told
	// InstanceURL is this instance's public base URL, sent in CONNECT.
	InstanceURL string
	// DefaultInboundWorkspace receives connections that arrive without an invite.
	DefaultInboundWorkspace string
	// Limits on INBOUND PENDING connections (PROTOCOL.md §5): per origin, in
	// all, and how long one waits for a user before it expires.
	PendingPerOrigin, PendingTotal int
	PendingExpiry                  time.Duration
	Log                            *slog.Logger
	Now                            func() time.Time
}

// Service runs the connection use cases.
type Service struct {
	connections             *store.Connections
	messages                *store.Messages
	invites                 *store.Invites
	identity                *identity.Service
	signer                  *delivery.Signer
	peers                   *peer.Client
	outbox                  *delivery.Outbox
	verifier                *incoming.Verifier
	operators               *operations.Service
	resumptions             Resumptions
	instanceURL             string
	defaultInboundWorkspace string
	pendingPerOrigin        int
	pendingTotal            int
	pendingExpiry           time.Duration
	log                     *slog.Logger
	now                     func() time.Time
}

// New returns the service.
func New(d Deps) *Service {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.PendingPerOrigin == 0 {
		d.PendingPerOrigin = 10
	}
	if d.PendingTotal == 0 {
		d.PendingTotal = 1000
	}
	if d.PendingExpiry == 0 {
		d.PendingExpiry = 7 * 24 * time.Hour
	}
	return &Service{
		connections:             d.Connections,
		messages:                d.Messages,
		invites:                 d.Invites,
		identity:                d.Identity,
		signer:                  d.Signer,
		peers:                   d.Peers,
		outbox:                  d.Outbox,
		verifier:                d.Verifier,
		operators:               d.Operators,
		instanceURL:             d.InstanceURL,
		defaultInboundWorkspace: d.DefaultInboundWorkspace,
		pendingPerOrigin:        d.PendingPerOrigin,
		pendingTotal:            d.PendingTotal,
		pendingExpiry:           d.PendingExpiry,
		log:                     d.Log,
		now:                     d.Now,
	}
}

// ResumeWith makes r learn of every resumed connection (wired late: the
// events capability is built after this one).
func (s *Service) ResumeWith(r Resumptions) { s.resumptions = r }

// MaxReasonLen bounds a reason given for a change.
const MaxReasonLen = 500
