package connections

import (
	"context"
	"log/slog"
	"time"

	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/identity"
	"github.com/fedgate/fedgate/shared/incoming"
	"github.com/fedgate/fedgate/shared/peer"
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

// Peers reaches other instances.
type Peers interface {
	NormalizeURL(ctx context.Context, raw string) (string, error)
	FetchInstance(ctx context.Context, baseURL string) (*identity.Document, error)
	Post(ctx context.Context, baseURL, path string, body []byte) (*peer.Reply, error)
}

// Outbox sends the job of a record stored in another transaction.
type Outbox interface {
	Kick(ctx context.Context, rec *store.MessageRecord)
}

// Resumptions is told when a SUSPENDED connection is ACTIVE again (the
// events capability syncs subscriptions and catches up).
type Resumptions interface {
	Resumed(ctx context.Context, conn *federation.Connection, suspendedAt time.Time) error
}

// Operators hears what the people running the instance must see
// (shared/operations): here, a connection suspended or resumed by a user.
type Operators interface {
	Peer(ctx context.Context, conn *federation.Connection, opType string)
	Suspended(ctx context.Context, conn *federation.Connection, reason string)
}

// Verifier parses and verifies incoming envelopes.
type Verifier interface {
	Parse(ctx context.Context, raw []byte, wantType string) (federation.Envelope, error)
	Verify(ctx context.Context, raw []byte, wantType string, members any, statuses ...federation.ConnStatus) (*incoming.Envelope, error)
	VerifyAnswer(ctx context.Context, conn *federation.Connection, want federation.Answer, raw []byte, members any) error
}

// Deps is what the service needs.
type Deps struct {
	Connections *store.Connections
	Messages    *store.Messages
	Invites     *store.Invites
	Identity    Identity
	Signer      Signer
	Peers       Peers
	Outbox      Outbox
	Verifier    Verifier
	Resumptions Resumptions
	Operators   Operators
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
type Service struct{ Deps }

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
	return &Service{Deps: d}
}

// MaxReasonLen bounds a reason given for a change.
const MaxReasonLen = 500
