package apptest

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/fedgate/fedgate/shared/app"
	"github.com/fedgate/fedgate/shared/config"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/identity"
	"github.com/fedgate/fedgate/shared/ids"
	"github.com/fedgate/fedgate/shared/localaws/awstest"
	"github.com/fedgate/fedgate/shared/signing"
	"github.com/fedgate/fedgate/shared/store"
)

// Option adjusts the test configuration.
type Option func(*config.Config)

// WithAlg sets the signing algorithm of new keys.
func WithAlg(alg signing.Alg) Option { return func(c *config.Config) { c.Identity.Alg = alg } }

// Config returns a valid configuration naming fresh resources.
func Config(t testing.TB, opts ...Option) config.Config {
	t.Helper()
	cfg := config.Config{
		Queues: awstest.Queues(t),
		Identity: identity.Settings{
			Name: "test", URL: "http://127.0.0.1:9", Alg: signing.EdDSA,
			CommandTypes: config.DefaultCommandTypes, EventTypes: []string{},
		},
		Tables:         store.PrefixedNames(awstest.Prefix(t)),
		KMSKeyID:       awstest.KMSKey(t),
		WorkspaceClaim: "workspace_id",
		DevMode:        true,
	}
	cfg.Defaults()
	for _, o := range opts {
		o(&cfg)
	}
	if err := store.CreateTables(context.Background(), awstest.Config(t), cfg.Tables); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// New returns an App over fresh resources. Its logs are discarded unless the
// test runs with -v.
func New(t testing.TB, opts ...Option) *app.App {
	t.Helper()
	var w io.Writer = io.Discard
	if testing.Verbose() {
		w = os.Stderr
	}
	return app.New(Config(t, opts...), awstest.Config(t), slog.New(slog.NewJSONHandler(w, nil)))
}

// Connection stores a connection of workspace ws to a peer at url (that peer
// need not exist; "" makes up an origin of its own) in the given status, as
// the handshake would have left it.
func Connection(t testing.TB, a *app.App, ws string, status federation.ConnStatus, url string) *federation.Connection {
	t.Helper()
	if url == "" {
		url = "https://peer-" + strings.ToLower(ids.Token(6)) + ".invalid"
	}
	now := time.Now().UTC()
	c := &federation.Connection{
		ID: ids.New(), WorkspaceID: ws, RemoteInstanceID: "peer-" + ids.Token(4), RemoteURL: url,
		Direction: federation.Outbound, Status: status, Health: federation.Health{Circuit: federation.CircuitClosed},
		CreatedAt: now, UpdatedAt: now,
	}
	if err := a.Store.Connections.Create(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	return c
}
