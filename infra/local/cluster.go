package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go/middleware"

	"github.com/fedgate/fedgate/infra/local/devjwt"
	"github.com/fedgate/fedgate/shared/app"
	"github.com/fedgate/fedgate/shared/config"
	"github.com/fedgate/fedgate/shared/handlers"
	"github.com/fedgate/fedgate/shared/httpapi"
	"github.com/fedgate/fedgate/shared/identity"
	"github.com/fedgate/fedgate/shared/localaws"
	"github.com/fedgate/fedgate/shared/queue"
	"github.com/fedgate/fedgate/shared/routes"
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
	// SaveEvery is how often state is written while running (default 2
	// minutes), and it is written on Stop, each time only if anything was
	// written to the instance's tables since it was last saved or loaded. A
	// save scans every table, so it costs as much as the data is large: an
	// idle runner skips it, a busy one does it rarely, and a crash loses at
	// most SaveEvery of changes.
	SaveEvery time.Duration
	// Visibility is the local queues' visibility timeout (default 10 s, so a
	// failed batch comes back quickly; in AWS it is 6× the function timeout).
	Visibility time.Duration
	// ScheduleEvery, when set, is how often every scheduled function runs;
	// by default each runs at its production rate (the route's rate(...)
	// expression, every minute). Tests and the soak compress it.
	ScheduleEvery time.Duration
	// MaxConcurrency caps each queue's concurrent batches (default 8) below
	// the route table's maximum concurrency: moto serves DynamoDB one
	// request at a time, and fifty deliver batches per instance queue
	// requests there for longer than a user call may wait (publish answers
	// 500 in the soak). RouteConcurrency lifts the cap. Fairness depends on
	// deliver's concurrency staying above a peer's in-flight bound (50 > 20
	// in AWS); under the cap a slow peer can hold all 8 batches, so the
	// fairness benchmark runs with RouteConcurrency.
	MaxConcurrency   int
	RouteConcurrency bool
	// Teardown deletes every instance's tables and queues on Stop. Tests set
	// it: moto keeps everything in one Python heap and walks a whole table
	// for every Query, so what earlier tests left behind slows later ones.
	Teardown bool
	// Configure adjusts an instance's configuration before it starts (tests
	// shrink retry budgets and timeouts with it).
	Configure func(name string, c *config.Config)
}

// Instance is one running fedgate instance.
type Instance struct {
	Spec     InstanceSpec
	URL      string // base URL peers use, e.g. http://127.0.0.1:8081
	App      *app.App
	stateDir string
	gateway  *Gateway
	access   *accessLog
	// writes counts the DynamoDB calls through the instance's SDK config
	// that may change a table; saved is its value at the last save.
	writes, saved atomic.Int64

	mu       sync.Mutex
	listener net.Listener // the first Up's, when the port was picked
	server   *http.Server
	done     chan struct{}
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
		opts.SaveEvery = 2 * time.Minute
	}
	if opts.Visibility == 0 {
		opts.Visibility = 10 * time.Second
	}
	if opts.MaxConcurrency == 0 {
		opts.MaxConcurrency = 8
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

func (c *Cluster) startInstance(ctx, runCtx context.Context, spec InstanceSpec) (_ *Instance, err error) {
	if spec.Prefix == "" {
		spec.Prefix = spec.Name + "-"
	}
	inst := &Instance{Spec: spec}
	if spec.Port == 0 {
		// Listen now and keep the listener for Up: a port found free and
		// closed again could be taken (a neighbour test's instance, an
		// outgoing connection) before the instance listened on it.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("listen: %w", err)
		}
		addr, ok := l.Addr().(*net.TCPAddr)
		if !ok {
			l.Close()
			return nil, errors.New("listen: not a TCP address")
		}
		inst.Spec.Port, inst.listener = addr.Port, l
		spec = inst.Spec
		defer func() {
			if err != nil && inst.listener != nil {
				inst.listener.Close()
			}
		}()
	}
	awsCfg := localaws.Config(c.opts.Endpoint)
	awsCfg.APIOptions = append(awsCfg.APIOptions, countWrites(&inst.writes))
	keyID, err := createKMSKey(ctx, kms.NewFromConfig(awsCfg), spec.Name)
	if err != nil {
		return nil, err
	}
	url := fmt.Sprintf("http://127.0.0.1:%d", spec.Port)
	sqsClient := sqs.NewFromConfig(awsCfg)
	urls, arns, err := queue.Create(ctx, sqsClient, spec.Prefix, c.opts.Visibility)
	if err != nil {
		return nil, err
	}
	cfg := config.Config{
		Queues: urls,
		Identity: identity.Settings{
			Name: spec.Name, URL: url, Alg: spec.Alg,
			CommandTypes: config.DefaultCommandTypes, EventTypes: []string{},
		},
		Tables:          store.PrefixedNames(spec.Prefix),
		KMSKeyID:        keyID,
		WorkspaceClaim:  "workspace_id",
		DevMode:         true,
		MetricsInstance: spec.Name,
	}
	cfg.Defaults()
	if c.opts.Configure != nil {
		c.opts.Configure(spec.Name, &cfg)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := c.opts.Logger.With("instance", spec.Name)
	inst.access = newAccessLog(cfg.Tables, urls)
	inst.access.watch(&awsCfg)
	inst.URL, inst.App = url, app.New(cfg, awsCfg, log)
	if c.opts.StateDir != "" {
		inst.stateDir = filepath.Join(c.opts.StateDir, spec.Name)
	}
	if err := store.CreateTables(ctx, awsCfg, cfg.Tables); err != nil {
		return nil, err
	}
	if err := loadState(ctx, inst); err != nil {
		return nil, fmt.Errorf("load state: %w", err)
	}
	// What was just loaded is what the files hold; a new identity is not.
	inst.saved.Store(inst.writes.Load())
	// The first start creates the identity, as a function's first cold start would.
	if _, err := inst.App.Identity.Ensure(ctx); err != nil {
		return nil, err
	}
	inst.gateway = &Gateway{handlers: map[string]httpapi.LambdaHandler{}, auth: c.opts.Auth, log: log}
	for name, newHandler := range handlers.HTTP {
		inst.gateway.handlers[name] = newHandler(inst.App)
	}
	if err := inst.Up(); err != nil {
		return nil, err
	}
	if err := c.startWorkers(runCtx, inst, urls, arns); err != nil {
		inst.Down()
		return nil, err
	}
	c.wg.Go(func() { c.saveLoop(runCtx, inst) })
	return inst, nil
}

// startWorkers runs the queue consumers and scheduled functions of the route
// table, as event source mappings and EventBridge rules would.
func (c *Cluster) startWorkers(ctx context.Context, inst *Instance, urls queue.URLs, arns map[string]string) error {
	log := inst.App.Log
	for _, r := range routes.All {
		switch {
		case r.IsQueue():
			h := handlers.SQS[r.Name](inst.App)
			for _, q := range r.Queues {
				p := &Poller{
					SQS: inst.App.SQS, QueueURL: urls[q], QueueARN: arns[q], Visibility: c.opts.Visibility,
					Log: log.With("function", r.Name), Handler: SQSHandler(h),
					Concurrency: c.concurrency(r.Concurrency),
				}
				c.wg.Go(func() { p.Run(ctx) })
			}
		case r.IsScheduled():
			period := c.opts.ScheduleEvery
			if period == 0 {
				var err error
				if period, err = ratePeriod(r.Schedule); err != nil {
					return fmt.Errorf("function %s: %w", r.Name, err)
				}
			}
			h := handlers.Scheduled[r.Name](inst.App)
			name := r.Name
			c.wg.Go(func() {
				every(ctx, period, func() {
					if err := h(ctx, events.CloudWatchEvent{Source: "aws.events", DetailType: "Scheduled Event"}); err != nil && ctx.Err() == nil {
						log.Warn("scheduled function failed", "function", name, "error", err.Error())
					}
				})
			})
		}
	}
	return nil
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
	every(ctx, c.opts.SaveEvery, func() {
		if err := c.save(ctx, inst); err != nil && ctx.Err() == nil {
			c.opts.Logger.Warn("saving state failed", "instance", inst.Spec.Name, "error", err.Error())
		}
	})
}

// save writes inst's state unless nothing was written since the last save
// (or the load): the files hold it already. Writes made while it runs count
// for the next one.
func (c *Cluster) save(ctx context.Context, inst *Instance) error {
	n := inst.writes.Load()
	if n == inst.saved.Load() {
		return nil
	}
	if err := saveState(ctx, inst); err != nil {
		return err
	}
	inst.saved.Store(n)
	return nil
}

// countWrites counts, in n, every DynamoDB call that may change a table.
func countWrites(n *atomic.Int64) func(*middleware.Stack) error {
	return func(s *middleware.Stack) error {
		return s.Initialize.Add(middleware.InitializeMiddlewareFunc("fedgateCountWrites",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				switch in.Parameters.(type) {
				case *dynamodb.PutItemInput, *dynamodb.UpdateItemInput, *dynamodb.DeleteItemInput,
					*dynamodb.BatchWriteItemInput, *dynamodb.TransactWriteItemsInput,
					*dynamodb.ExecuteStatementInput, *dynamodb.BatchExecuteStatementInput, *dynamodb.ExecuteTransactionInput:
					n.Add(1)
				}
				return next.HandleInitialize(ctx, in)
			}), middleware.After)
	}
}

// ratePeriod is the period of an EventBridge rate expression such as
// "rate(1 minute)" or "rate(5 minutes)".
func ratePeriod(expr string) (time.Duration, error) {
	inner, isRate := strings.CutPrefix(expr, "rate(")
	inner, closed := strings.CutSuffix(inner, ")")
	if !isRate || !closed {
		return 0, fmt.Errorf("schedule %q: the local runner runs only rate(...) expressions", expr)
	}
	value, unit, _ := strings.Cut(strings.TrimSpace(inner), " ")
	n, err := strconv.Atoi(value)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("schedule %q: the rate is not a positive whole number", expr)
	}
	units := map[string]time.Duration{"minute": time.Minute, "hour": time.Hour, "day": 24 * time.Hour}
	d, ok := units[strings.TrimSuffix(unit, "s")]
	// EventBridge wants the singular for 1 and the plural otherwise.
	if !ok || (n == 1) == strings.HasSuffix(unit, "s") {
		return 0, fmt.Errorf("schedule %q: the unit must be minute(s), hour(s) or day(s)", expr)
	}
	return time.Duration(n) * d, nil
}

// every runs fn each period until ctx ends.
func every(ctx context.Context, period time.Duration, fn func()) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

// AccessViolations lists every AWS call a function of the instance made
// that its route row does not grant (what its IAM role would refuse in AWS).
func (i *Instance) AccessViolations() []string { return i.access.Violations() }

// Up starts serving HTTP (again) on the instance's port.
func (i *Instance) Up() error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.server != nil {
		return nil
	}
	l := i.listener
	i.listener = nil
	if l == nil {
		var err error
		if l, err = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", i.Spec.Port)); err != nil {
			return fmt.Errorf("listen on %d: %w", i.Spec.Port, err)
		}
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

// Slow makes the instance answer every signed envelope (/incoming/*) only
// after d, as a peer far away or overloaded would (0: at once again). The
// benchmarks use it for a slow peer that is still a real instance.
func (i *Instance) Slow(d time.Duration) { i.gateway.slow.Store(int64(d)) }

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

// Stop shuts every instance down and writes their state if it changed since
// it was last written.
func (c *Cluster) Stop(ctx context.Context) {
	c.stop()
	c.wg.Wait()
	for _, inst := range c.Instances {
		inst.Down()
		if err := c.save(ctx, inst); err != nil {
			c.opts.Logger.Warn("saving state failed", "instance", inst.Spec.Name, "error", err.Error())
		}
		if c.opts.Teardown {
			c.teardown(ctx, inst)
		}
	}
}

// concurrency is a queue consumer's number of batches at once.
func (c *Cluster) concurrency(route int) int {
	n := max(route, 1)
	if c.opts.RouteConcurrency {
		return n
	}
	return min(n, c.opts.MaxConcurrency)
}

// teardown deletes inst's tables and queues (best effort: moto dies with
// the test run anyway).
func (c *Cluster) teardown(ctx context.Context, inst *Instance) {
	awsCfg := localaws.Config(c.opts.Endpoint)
	_ = store.DeleteTables(ctx, awsCfg, inst.App.Config.Tables)
	sq := sqs.NewFromConfig(awsCfg)
	for _, url := range inst.App.Config.Queues {
		_, _ = sq.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(url)})
	}
}
