package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/fedgate/fedgate/shared/agents"
	"github.com/fedgate/fedgate/shared/config"
	"github.com/fedgate/fedgate/shared/connections"
	"github.com/fedgate/fedgate/shared/delivery"
	"github.com/fedgate/fedgate/shared/events"
	"github.com/fedgate/fedgate/shared/faults"
	"github.com/fedgate/fedgate/shared/httpapi"
	"github.com/fedgate/fedgate/shared/identity"
	"github.com/fedgate/fedgate/shared/incoming"
	"github.com/fedgate/fedgate/shared/messaging"
	"github.com/fedgate/fedgate/shared/metrics"
	"github.com/fedgate/fedgate/shared/operations"
	"github.com/fedgate/fedgate/shared/orchestrator"
	"github.com/fedgate/fedgate/shared/peer"
	"github.com/fedgate/fedgate/shared/platform"
	"github.com/fedgate/fedgate/shared/queue"
	"github.com/fedgate/fedgate/shared/ratelimit"
	"github.com/fedgate/fedgate/shared/signing"
	"github.com/fedgate/fedgate/shared/store"
	"github.com/fedgate/fedgate/shared/trace"
)

// App is the dependency graph of one fedgate instance.
type App struct {
	Config config.Config
	Log    *slog.Logger
	Now    func() time.Time

	// Resources.
	Store     *store.Store
	SQS       *sqs.Client
	Jobs      *queue.Sender
	Peers     *peer.Client
	Identity  *identity.Service
	Verifier  *incoming.Verifier
	Outbox    *delivery.Outbox
	Signer    *delivery.Signer
	Deliverer *delivery.Deliverer
	Metrics   *metrics.Recorder
	Faults    *faults.Injector // crash points: nil outside the local runner
	// UserLimiter limits user calls per workspace (Config.WorkspaceRate).
	UserLimiter *ratelimit.Limiter

	// Capabilities: the use cases.
	Connections *connections.Service
	Messaging   *messaging.Service
	Events      *events.Service
	Agents      *agents.Service
	Operations  *operations.Service
}

// New wires an App from cfg and an SDK configuration.
func New(cfg config.Config, awsCfg aws.Config, log *slog.Logger) *App {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// Every line logged with a traced context names its traceId.
	log = slog.New(trace.NewHandler(log.Handler()))
	cfg.Defaults()
	st := store.Open(awsCfg, cfg.Tables, store.Retention{Messages: cfg.Retention, Answers: delivery.Horizon + 24*time.Hour})
	sqsClient := sqs.NewFromConfig(awsCfg)
	a := &App{
		Config: cfg, Log: log, Now: time.Now,
		Store: st, SQS: sqsClient,
		Jobs:     queue.NewSender(sqsClient, cfg.Queues),
		Peers:    peer.New(cfg.DevMode, cfg.PeerPorts...),
		Identity: identity.New(st.Instance, signing.NewSealer(kms.NewFromConfig(awsCfg), cfg.KMSKeyID), cfg.Identity),
	}
	a.Metrics = metrics.New(log, cfg.MetricsInstance)
	if cfg.DevMode {
		a.Faults, _ = faults.Parse(cfg.CrashPoints) // validated with the configuration
	}
	a.Operations = operations.New(st.Operations, a.Metrics, log)
	a.sending()
	a.capabilities(awsCfg)
	return a
}

// sending wires what verifies and sends envelopes: the verifier with its
// per-connection limit, the user limiter, the outbox and the deliverer.
func (a *App) sending() {
	st, cfg, log := a.Store, a.Config, a.Log
	a.Verifier = incoming.New(incoming.Deps{
		Connections:  st.Connections,
		Messages:     st.Messages,
		Peers:        a.Peers,
		Self:         a.Identity,
		URL:          cfg.Identity.URL,
		RefetchEvery: cfg.KeyRefetchEvery,
		Limiter:      ratelimit.New("conn", cfg.PeerRate, st.Limits, log).MeasureWith(a.Metrics, "peer"),
		Metrics:      a.Metrics,
	})
	a.UserLimiter = ratelimit.New("ws", cfg.WorkspaceRate, st.Limits, log).MeasureWith(a.Metrics, "workspace")
	a.Signer = delivery.NewSigner(a.Identity)
	a.Outbox = delivery.NewOutbox(st.Messages, a.Jobs, log)

	a.Deliverer = delivery.New(delivery.Deps{
		Messages:    st.Messages,
		Connections: st.Connections,
		Signer:      a.Signer,
		Verifier:    a.Verifier,
		Peers:       a.Peers,
		Jobs:        a.Jobs,
		Policy:      cfg.Retry,
		Circuit:     cfg.Circuit,
		AckDeadline: cfg.AckDeadline,
		Slots:       st.Limits,
		InFlight:    cfg.PeerInFlight,
		Metrics:     a.Metrics,
		Operators:   a.Operations,
		Faults:      a.Faults,
		Log:         log,
	})
}

// capabilities wires the use cases and what each tells the others.
func (a *App) capabilities(awsCfg aws.Config) {
	st, cfg, log, signer := a.Store, a.Config, a.Log, a.Signer
	a.Connections = connections.New(connections.Deps{
		Connections: st.Connections, Messages: st.Messages, Invites: st.Invites, Identity: a.Identity,
		Signer: signer, Peers: a.Peers, Outbox: a.Outbox, Verifier: a.Verifier,
		Operators:   a.Operations,
		InstanceURL: cfg.Identity.URL, DefaultInboundWorkspace: cfg.DefaultInboundWorkspace,
		PendingPerOrigin: cfg.PendingPerOrigin, PendingTotal: cfg.PendingTotal, PendingExpiry: cfg.PendingExpiry, Log: log,
	})
	a.Messaging = messaging.New(messaging.Deps{
		Connections: st.Connections, Messages: st.Messages, Identity: a.Identity, Signer: signer, Peers: a.Peers,
		Outbox: a.Outbox, Jobs: a.Jobs, Verifier: a.Verifier, Acks: a.Deliverer,
		QueryBackend: platform.NewRelay(cfg.QueryBackendURL), CommandBackend: platform.NewRelay(cfg.CommandBackendURL),
		Retry: cfg.Retry, CommandTimeout: cfg.CommandTimeout, Log: log,
	})
	a.Events = events.New(events.Deps{
		Connections: st.Connections, Messages: st.Messages, Subscriptions: st.Subscriptions, Jobs: a.Jobs,
		Outbox: a.Outbox, Commands: a.Messaging, Signer: signer, Verifier: a.Verifier, Held: a.Deliverer,
		SubscriptionLimit: cfg.SubscriptionLimit, Faults: a.Faults, Metrics: a.Metrics, Log: log,
	})
	a.Agents = agents.New(agents.Deps{
		Agents: st.Agents, Connections: st.Connections, Commands: a.Messaging, Events: a.Events,
		Orchestrator: newOrchestrator(cfg, awsCfg), Log: log,
	})
	// Each capability answers its own built-in queries and commands, and
	// the agents capability keeps its records from answers and events.
	a.Connections.ResumeWith(a.Events)
	a.Events.Register(a.Messaging)
	a.Agents.Register(a.Messaging)
	a.Events.DeliverReceivedTo(a.Agents)
}

// newOrchestrator is the client of the local orchestrator on instances that
// run agents (ORCHESTRATOR_URL), nil elsewhere.
func newOrchestrator(cfg config.Config, awsCfg aws.Config) *orchestrator.Client {
	if cfg.OrchestratorURL == "" {
		return nil
	}
	key := orchestrator.StaticKey(cfg.OrchestratorAPIKey)
	if cfg.OrchestratorAPIKey == "" && cfg.OrchestratorSecretARN != "" {
		key = orchestrator.SecretKey(awsCfg, cfg.OrchestratorSecretARN)
	}
	return orchestrator.New(strings.TrimRight(cfg.OrchestratorURL, "/"), key)
}

// FromEnv is New for a Lambda function: configuration from the environment,
// credentials from the execution role, JSON logs to stdout.
func FromEnv(ctx context.Context) (*App, error) {
	cfg, err := config.FromEnv()
	if err != nil {
		return nil, err
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	return New(cfg, awsCfg, NewLogger(os.Stdout)), nil
}

// MustFromEnv is FromEnv for main functions: a function that cannot start
// logs why and exits, so the failure shows in its logs and metrics.
func MustFromEnv() *App {
	a, err := FromEnv(context.Background())
	if err != nil {
		NewLogger(os.Stderr).Error("cold start failed", "error", err.Error())
		os.Exit(1)
	}
	return a
}

// NewLogger returns the JSON logger every function uses.
func NewLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// HTTPOptions are the HTTP plumbing options for this deployment.
func (a *App) HTTPOptions() httpapi.Options {
	return httpapi.Options{WorkspaceClaim: a.Config.WorkspaceClaim, Logger: a.Log, Limiter: a.UserLimiter}
}
