// Package app builds a function's dependencies once per cold start: SDK
// clients, repositories and services, from a config.Config.
package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/fedgate/fedgate/shared/api"
	"github.com/fedgate/fedgate/shared/backend"
	"github.com/fedgate/fedgate/shared/config"
	"github.com/fedgate/fedgate/shared/delivery"
	"github.com/fedgate/fedgate/shared/fanout"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/identity"
	"github.com/fedgate/fedgate/shared/incoming"
	"github.com/fedgate/fedgate/shared/orchestrator"
	"github.com/fedgate/fedgate/shared/peer"
	"github.com/fedgate/fedgate/shared/queue"
	"github.com/fedgate/fedgate/shared/signing"
	"github.com/fedgate/fedgate/shared/store"
)

// App is the dependency graph of one fedgate instance.
type App struct {
	Config      config.Config
	Log         *slog.Logger
	DB          *dynamodb.Client
	KMS         *kms.Client
	SQS         *sqs.Client
	Identity    *identity.Service
	Connections *store.Connections
	Messages    *store.Messages
	Invites     *store.Invites
	Subs        *store.Subscriptions
	Agents      *store.Agents
	Events      *fanout.Service
	Jobs        *queue.Sender
	Peers       *peer.Client
	Verifier    *incoming.Verifier
	Signer      *delivery.Signer
	Outbox      *delivery.Outbox
	Deliverer   *delivery.Deliverer
	// Queries answers incoming queries; Commands executes incoming commands.
	Queries  *backend.Handlers
	Commands *backend.Handlers
	// CommandObservers learn of every command of ours that got its response
	// (the agents registry keeps its records from them).
	CommandObservers []func(ctx context.Context, rec *store.MessageRecord)
	// EventObservers learn of every incoming event this workspace subscribed to.
	EventObservers []func(ctx context.Context, rec *store.MessageRecord)
	// Orchestrator is set on instances that run agents (ORCHESTRATOR_URL).
	Orchestrator *orchestrator.Client
	Now          func() time.Time
}

// ObserveEvent tells every observer about a received event.
func (a *App) ObserveEvent(ctx context.Context, rec *store.MessageRecord) {
	for _, o := range a.EventObservers {
		o(ctx, rec)
	}
}

// ObserveCommandResponse tells every observer about a completed command.
func (a *App) ObserveCommandResponse(ctx context.Context, rec *store.MessageRecord) {
	for _, o := range a.CommandObservers {
		o(ctx, rec)
	}
}

// New wires an App from cfg and an SDK configuration.
func New(cfg config.Config, awsCfg aws.Config, log *slog.Logger) *App {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.Defaults()
	db := dynamodb.NewFromConfig(awsCfg)
	kmsClient := kms.NewFromConfig(awsCfg)
	sqsClient := sqs.NewFromConfig(awsCfg)
	a := &App{
		Config: cfg,
		Log:    log,
		DB:     db,
		KMS:    kmsClient,
		SQS:    sqsClient,
		Identity: identity.New(
			store.NewInstance(db, cfg.Tables[store.InstanceTable]),
			signing.NewSealer(kmsClient, cfg.KMSKeyID),
			cfg.Identity,
		),
		Connections: store.NewConnections(db, cfg.Tables[store.ConnectionsTable]),
		Messages:    store.NewMessages(db, cfg.Tables[store.MessagesTable], cfg.Retention),
		Invites:     store.NewInvites(db, cfg.Tables[store.InvitesTable]),
		Subs:        store.NewSubscriptions(db, cfg.Tables[store.SubscriptionsTable]),
		Agents:      store.NewAgents(db, cfg.Tables[store.AgentsTable]),
		Jobs:        queue.NewSender(sqsClient, cfg.Queues),
		Peers:       peer.New(cfg.DevMode),
		Now:         time.Now,
	}
	a.Verifier = incoming.New(a.Connections, a.Messages, a.Peers)
	a.Signer = delivery.NewSigner(a.Identity)
	a.Outbox = delivery.NewOutbox(a.Messages, a.Jobs, log)
	a.Deliverer = &delivery.Deliverer{
		Msgs: a.Messages, Conns: a.Connections, Signer: a.Signer, Peers: a.Peers, Jobs: a.Jobs,
		Policy: cfg.Retry, Log: log, Now: time.Now,
	}
	a.Events = &fanout.Service{
		Msgs: a.Messages, Conns: a.Connections, Subs: a.Subs, Jobs: a.Jobs, Outbox: a.Outbox, Log: log, Now: time.Now,
	}
	a.Deliverer.OnSuspend = func(ctx context.Context, conn *federation.Connection, reason string) {
		payload, _ := json.Marshal(map[string]string{"connectionId": conn.ID, "remoteInstanceId": conn.RemoteInstanceID, "reason": reason})
		if _, _, err := a.Events.Publish(ctx, conn.WorkspaceID, "federation.connection.suspended", payload); err != nil {
			log.Warn("operational event not published", "error", err.Error())
		}
	}
	a.Queries = backend.NewHandlers("query", cfg.QueryBackendURL)
	a.Commands = backend.NewHandlers("command", cfg.CommandBackendURL)
	registerBuiltins(a)
	registerAgents(a, awsCfg)
	return a
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

// APIOptions are the HTTP plumbing options for this deployment.
func (a *App) APIOptions() api.Options {
	return api.Options{WorkspaceClaim: a.Config.WorkspaceClaim, Logger: a.Log}
}
