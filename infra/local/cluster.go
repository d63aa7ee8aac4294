package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/fedgate/fedgate/infra/local/devjwt"
	"github.com/fedgate/fedgate/shared/api"
	"github.com/fedgate/fedgate/shared/app"
	"github.com/fedgate/fedgate/shared/config"
	"github.com/fedgate/fedgate/shared/handlers"
	"github.com/fedgate/fedgate/shared/identity"
	"github.com/fedgate/fedgate/shared/localaws"
	"github.com/fedgate/fedgate/shared/signing"
	"github.com/fedgate/fedgate/shared/store"
)

// InstanceSpec describes one local fedgate instance.
type InstanceSpec struct {
	Name   string      // "hub", "spoke"; also its state sub-directory
	Port   int         // loopback port; 0 picks a free one
	Prefix string      // table/queue name prefix; default Name+"-"
	Alg    signing.Alg // default RS256
}

// Options configure a Cluster.
type Options struct {
	Endpoint  string // moto_server URL
	StateDir  string // where state survives restarts; "" keeps nothing
	Instances []InstanceSpec
	Auth      *devjwt.Authority
	Logger    *slog.Logger
	// SaveEvery is how often state is written while running (default 5 s);
	// it is always written on Stop.
	SaveEvery time.Duration
}

// Instance is one running fedgate instance.
type Instance struct {
	Spec     InstanceSpec
	URL      string // base URL peers use, e.g. http://127.0.0.1:8081
	App      *app.App
	stateDir string
	gateway  *Gateway

	mu     sync.Mutex
	server *http.Server
	done   chan struct{}
}

// Cluster is a set of instances sharing one moto_server.
type Cluster struct {
	Instances map[string]*Instance
	opts      Options
	stop      context.CancelFunc
	wg        sync.WaitGroup
}

// Start provisions and starts every instance in opts.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.SaveEvery == 0 {
		opts.SaveEvery = 5 * time.Second
	}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	c := &Cluster{Instances: map[string]*Instance{}, opts: opts, stop: stop}
	for _, spec := range opts.Instances {
		inst, err := c.startInstance(ctx, runCtx, spec)
		if err != nil {
			c.Stop(ctx)
			return nil, fmt.Errorf("instance %s: %w", spec.Name, err)
		}
		c.Instances[spec.Name] = inst
	}
	return c, nil
}

func (c *Cluster) startInstance(ctx, runCtx context.Context, spec InstanceSpec) (*Instance, error) {
	if spec.Prefix == "" {
		spec.Prefix = spec.Name + "-"
	}
	if spec.Port == 0 {
		port, err := localaws.FreePort()
		if err != nil {
			return nil, err
		}
		spec.Port = port
	}
	awsCfg := localaws.Config(c.opts.Endpoint)
	keyID, err := createKMSKey(ctx, kms.NewFromConfig(awsCfg), spec.Name)
	if err != nil {
		return nil, err
	}
	url := fmt.Sprintf("http://127.0.0.1:%d", spec.Port)
	cfg := config.Config{
		Identity: identity.Settings{
			Name: spec.Name, URL: url, Alg: spec.Alg,
			CommandTypes: config.DefaultCommandTypes, EventTypes: []string{},
		},
		Tables:         store.PrefixedNames(spec.Prefix),
		KMSKeyID:       keyID,
		WorkspaceClaim: "workspace_id",
		DevMode:        true,
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := c.opts.Logger.With("instance", spec.Name)
	inst := &Instance{Spec: spec, URL: url, App: app.New(cfg, awsCfg, log)}
	if c.opts.StateDir != "" {
		inst.stateDir = filepath.Join(c.opts.StateDir, spec.Name)
	}
	if err := store.CreateTables(ctx, inst.App.DB, cfg.Tables); err != nil {
		return nil, err
	}
	if err := loadState(ctx, inst); err != nil {
		return nil, fmt.Errorf("load state: %w", err)
	}
	// The first start creates the identity, as a function's first cold start would.
	if _, err := inst.App.Identity.Ensure(ctx); err != nil {
		return nil, err
	}
	inst.gateway = &Gateway{handlers: map[string]api.LambdaHandler{}, auth: c.opts.Auth, log: log}
	for name, newHandler := range handlers.HTTP {
		inst.gateway.handlers[name] = newHandler(inst.App)
	}
	if err := inst.Up(); err != nil {
		return nil, err
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.saveLoop(runCtx, inst)
	}()
	return inst, nil
}

func createKMSKey(ctx context.Context, client *kms.Client, name string) (string, error) {
	out, err := client.CreateKey(ctx, &kms.CreateKeyInput{
		Description: aws.String("fedgate " + name + " signing-key sealing (local)"),
		KeySpec:     kmstypes.KeySpecSymmetricDefault,
		KeyUsage:    kmstypes.KeyUsageTypeEncryptDecrypt,
	})
	if err != nil {
		return "", fmt.Errorf("create KMS key: %w", err)
	}
	return aws.ToString(out.KeyMetadata.KeyId), nil
}

func (c *Cluster) saveLoop(ctx context.Context, inst *Instance) {
	t := time.NewTicker(c.opts.SaveEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := saveState(ctx, inst); err != nil && ctx.Err() == nil {
				c.opts.Logger.Warn("saving state failed", "instance", inst.Spec.Name, "error", err.Error())
			}
		}
	}
}

// Up starts serving HTTP (again) on the instance's port.
func (i *Instance) Up() error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.server != nil {
		return nil
	}
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", i.Spec.Port))
	if err != nil {
		return fmt.Errorf("listen on %d: %w", i.Spec.Port, err)
	}
	srv := &http.Server{Handler: i.gateway, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			i.gateway.log.Error("server failed", "error", err.Error())
		}
	}()
	i.server, i.done = srv, done
	return nil
}

// Down stops serving HTTP, as if the instance were unreachable; its state
// and background work stay.
func (i *Instance) Down() {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.server == nil {
		return
	}
	_ = i.server.Close()
	<-i.done
	i.server = nil
}

// Stop shuts every instance down and writes their state.
func (c *Cluster) Stop(ctx context.Context) {
	c.stop()
	c.wg.Wait()
	for _, inst := range c.Instances {
		inst.Down()
		if err := saveState(ctx, inst); err != nil {
			c.opts.Logger.Warn("saving state failed", "instance", inst.Spec.Name, "error", err.Error())
		}
	}
}
