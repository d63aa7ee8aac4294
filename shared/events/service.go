package events

import (
	"context"
	"log/slog"
	"time"

	"github.com/fedgate/fedgate/shared/delivery"
	"github.com/fedgate/fedgate/shared/faults"
	"github.com/fedgate/fedgate/shared/incoming"
	"github.com/fedgate/fedgate/shared/messaging"
	"github.com/fedgate/fedgate/shared/metrics"
	"github.com/fedgate/fedgate/shared/queue"
	"github.com/fedgate/fedgate/shared/store"
)

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
	Jobs          *queue.Sender
	Outbox        *delivery.Outbox
	// Commands sends event.subscribe, event.unsubscribe and event.sync:
	// retried until the publisher answers, never TIMEOUT.
	Commands *messaging.Service
	Signer   *delivery.Signer
	// Held releases the deliveries held for a connection: the peer's
	// event.sync says it takes them again, and a resume ends a suspension.
	Held     *delivery.Deliverer
	Verifier *incoming.Verifier
	Faults   *faults.Injector // crash points (local runner only)
	Metrics  *metrics.Recorder
	Log      *slog.Logger
	Now      func() time.Time
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
	connections       *store.Connections
	messages          *store.Messages
	subscriptions     *store.Subscriptions
	jobs              *queue.Sender
	outbox            *delivery.Outbox
	commands          *messaging.Service
	signer            *delivery.Signer
	held              *delivery.Deliverer
	verifier          *incoming.Verifier
	faults            *faults.Injector
	metrics           *metrics.Recorder
	log               *slog.Logger
	now               func() time.Time
	pageSize          int32
	subscriptionLimit int
	syncEvery         time.Duration
	receiver          Receiver
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
	if d.PageSize == 0 {
		d.PageSize = DefaultPageSize
	}
	return &Service{
		connections:       d.Connections,
		messages:          d.Messages,
		subscriptions:     d.Subscriptions,
		jobs:              d.Jobs,
		outbox:            d.Outbox,
		commands:          d.Commands,
		signer:            d.Signer,
		held:              d.Held,
		verifier:          d.Verifier,
		faults:            d.Faults,
		metrics:           d.Metrics,
		log:               d.Log,
		now:               d.Now,
		pageSize:          d.PageSize,
		subscriptionLimit: d.SubscriptionLimit,
		syncEvery:         d.SyncEvery,
	}
}

// DeliverReceivedTo makes r learn of every event received that this
// workspace subscribed to (wired late: the agents capability is built after).
func (s *Service) DeliverReceivedTo(r Receiver) { s.receiver = r }
