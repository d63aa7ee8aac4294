package events

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/fedgate/fedgate/shared/faults"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/incoming"
	"github.com/fedgate/fedgate/shared/metrics"
	"github.com/fedgate/fedgate/shared/queue"
	"github.com/fedgate/fedgate/shared/store"
)

// Jobs sends queue jobs.
type Jobs interface {
	Send(ctx context.Context, queue string, job queue.Job, delay time.Duration) error
	SendBatch(ctx context.Context, queue string, jobs []queue.Job) ([]queue.Job, error)
}

// Outbox stores a record and queues its job crash-safely.
type Outbox interface {
	Create(ctx context.Context, rec *store.MessageRecord) error
}

// Commands sends COMMANDs to peers (event.subscribe, event.unsubscribe,
// event.sync): retried until the publisher answers, never TIMEOUT.
type Commands interface {
	SendUntilAnswered(ctx context.Context, conn *federation.Connection, commandType string, payload json.RawMessage) (*store.MessageRecord, error)
}

// Signer signs envelopes as this instance (the EVENT_ACK).
type Signer interface {
	Sign(ctx context.Context, to *federation.Connection, messageID, envType string, body any) ([]byte, error)
}

// Verifier verifies incoming envelopes.
type Verifier interface {
	Verify(ctx context.Context, raw []byte, wantType string, members any, statuses ...federation.ConnStatus) (*incoming.Envelope, error)
}

// Receiver learns of every incoming event this workspace subscribed to (the
// agents capability follows agent.status.changed with it).
type Receiver interface {
	EventReceived(ctx context.Context, rec *store.MessageRecord)
}

// Deps is what the service needs.
type Deps struct {
	Connections   *store.Connections
	Messages      *store.Messages
	Subscriptions *store.Subscriptions
	Jobs          Jobs
	Outbox        Outbox
	Commands      Commands
	Signer        Signer
	Verifier      Verifier
	Faults        *faults.Injector // crash points (local runner only)
	Metrics       *metrics.Recorder
	Log           *slog.Logger
	Now           func() time.Time
	// PageSize is how many subscriptions one fan-out invocation handles.
	PageSize int32
	// SubscriptionLimit bounds a connection's active subscriptions in each
	// direction (PROTOCOL.md §8).
	SubscriptionLimit int
	// SyncEvery is how often the subscriber sends the publisher its complete
	// list (event.sync) at the latest (PROTOCOL.md §8: at least daily).
	SyncEvery time.Duration
}

// Service runs the EVENT use cases.
type Service struct {
	Deps
	receiver Receiver
}

// New returns the service.
func New(d Deps) *Service {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.SubscriptionLimit == 0 {
		d.SubscriptionLimit = 100
	}
	if d.SyncEvery == 0 {
		d.SyncEvery = 24 * time.Hour
	}
	return &Service{Deps: d}
}

// DeliverReceivedTo makes r learn of every event received that this
// workspace subscribed to.
func (s *Service) DeliverReceivedTo(r Receiver) { s.receiver = r }
