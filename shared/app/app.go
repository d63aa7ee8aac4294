// Package app builds a function's dependencies once per cold start: SDK
// clients, repositories and services, from a config.Config.
package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/fedgate/fedgate/shared/api"
	"github.com/fedgate/fedgate/shared/config"
	"github.com/fedgate/fedgate/shared/identity"
	"github.com/fedgate/fedgate/shared/signing"
	"github.com/fedgate/fedgate/shared/store"
)

// App is the dependency graph of one fedgate instance.
type App struct {
	Config   config.Config
	Log      *slog.Logger
	DB       *dynamodb.Client
	KMS      *kms.Client
	Identity *identity.Service
}

// New wires an App from cfg and an SDK configuration.
func New(cfg config.Config, awsCfg aws.Config, log *slog.Logger) *App {
	db := dynamodb.NewFromConfig(awsCfg)
	kmsClient := kms.NewFromConfig(awsCfg)
	return &App{
		Config: cfg,
		Log:    log,
		DB:     db,
		KMS:    kmsClient,
		Identity: identity.New(
			store.NewInstance(db, cfg.Tables[store.InstanceTable]),
			signing.NewSealer(kmsClient, cfg.KMSKeyID),
			cfg.Identity,
		),
	}
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
