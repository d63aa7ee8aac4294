// Command bench is `make bench`: the cost of signing, fan-out and cold start,
// measured in one run and reported as ratios (machines here are noisy, so
// nothing is asserted). It prints one Markdown table and writes it to
// build/bench/results.md.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go/middleware"

	"github.com/fedgate/fedgate/shared/app"
	"github.com/fedgate/fedgate/shared/config"
	"github.com/fedgate/fedgate/shared/events"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/handlers"
	"github.com/fedgate/fedgate/shared/httpapi"
	"github.com/fedgate/fedgate/shared/identity"
	"github.com/fedgate/fedgate/shared/ids"
	"github.com/fedgate/fedgate/shared/localaws"
	"github.com/fedgate/fedgate/shared/queue"
	"github.com/fedgate/fedgate/shared/ratelimit"
	"github.com/fedgate/fedgate/shared/signing"
	"github.com/fedgate/fedgate/shared/store"
)

type row struct{ what, value, target string }

var rows []row

func report(what, target, format string, args ...any) {
	rows = append(rows, row{what, fmt.Sprintf(format, args...), target})
	fmt.Fprintf(os.Stderr, "%-60s %s\n", what, fmt.Sprintf(format, args...))
}

// only limits the run to some sections (comma-separated: signing, fanout,
// incoming, fairness, binaries), e.g. while profiling one of them.
var only = flag.String("only", "", "run only these sections")

func want(section string) bool {
	return *only == "" || slices.Contains(strings.Split(*only, ","), section)
}

func main() {
	flag.Parse()
	ctx := context.Background()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	var b strings.Builder
	b.WriteString("| measurement | result | target |\n|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", r.what, r.value, r.target)
	}
	fmt.Print(b.String())
	_ = os.MkdirAll("build/bench", 0o755)
	_ = os.WriteFile("build/bench/results.md", []byte("# fedgate benchmarks ("+time.Now().UTC().Format(time.RFC3339)+")\n\n"+b.String()+extra), 0o644)
}

func envelopeOfSize(n int) []byte {
	pad := make([]byte, n)
	for i := range pad {
		pad[i] = 'a' + byte(i%26)
	}
	raw, _ := federation.Merge(federation.Envelope{MessageID: ids.New(), Type: federation.EnvEvent, InstanceID: ids.New(), ConnectionID: ids.New(), Timestamp: time.Now().UnixMilli()},
		federation.EventBody{EventType: "task.created", Payload: json.RawMessage(`{"title":"` + string(pad) + `","n":[1,2.5,1e21]}`)})
	return raw
}

func nsPerOp(fn func()) float64 {
	r := testing.Benchmark(func(b *testing.B) {
		for b.Loop() {
			fn()
		}
	})
	return float64(r.NsPerOp())
}

func run(ctx context.Context) error {
	// 1. Signing and canonicalization (pure CPU).
	env := envelopeOfSize(1024)
	keys := map[signing.Alg]*signing.PrivateKey{}
	signNs := map[signing.Alg]float64{}
	for _, alg := range []signing.Alg{signing.RS256, signing.EdDSA} {
		k, _ := signing.GenerateKey(alg)
		keys[alg] = k
		signed, _ := signing.Sign(k, env)
		input, _ := signing.SigningInput(signed)
		signNs[alg] = nsPerOp(func() { _, _ = k.Sign(input) })
		verifyNs := nsPerOp(func() { _ = signing.Verify(k.Public(), signed) })
		report(fmt.Sprintf("sign, %s (bare signature of a 1 KiB envelope)", alg), "", "%.1f µs/op", signNs[alg]/1e3)
		report(fmt.Sprintf("verify envelope, %s (parse + JCS + verify)", alg), "", "%.1f µs/op", verifyNs/1e3)
	}
	big := envelopeOfSize(16 * 1024)
	jcsNs := nsPerOp(func() { _, _ = signing.Canonicalize(big) })
	report("JCS canonicalization", "", "%.2f µs per KiB", jcsNs/1e3/float64(len(big)/1024))

	// 2. Sender CPU per delivery: canonicalize + sign + build the request.
	rs := keys[signing.RS256]
	sendNs := nsPerOp(func() {
		signed, _ := signing.Sign(rs, env)
		req, _ := http.NewRequest(http.MethodPost, "https://peer.example.org/api/v1/federation/incoming/event", bytes.NewReader(signed))
		req.Header.Set("Content-Type", "application/json")
	})
	report("sender CPU per delivery (RS256) / one bare signature", "≤ 2×", "%.2f× (%.1f µs)", sendNs/signNs[signing.RS256], sendNs/1e3)

	// moto for the rest.
	moto, err := localaws.Start(ctx, os.DevNull)
	if err != nil {
		return err
	}
	defer moto.Stop()

	// 3. Fan-out to 1, 100, 1000 subscribers, counting SDK calls.
	for _, n := range []int{1, 100, 1000} {
		if !want("fanout") {
			break
		}
		if err := fanout(ctx, moto.URL, n, signNs[signing.RS256]); err != nil {
			return fmt.Errorf("fan-out %d: %w", n, err)
		}
	}

	// 4. incoming-event: verified events per CPU-second of this process.
	if want("incoming") {
		for _, alg := range []signing.Alg{signing.RS256, signing.EdDSA} {
			if err := incomingEvents(ctx, moto.URL, alg); err != nil {
				return fmt.Errorf("incoming-event: %w", err)
			}
		}
	}
	// 5. Fairness: what one slow peer costs the others' latency.
	if want("fairness") {
		if err := fairness(ctx, moto.URL); err != nil {
			return fmt.Errorf("fairness: %w", err)
		}
	}
	if !want("binaries") {
		return nil
	}

	// 5. Binaries: size of the Lambda builds (make build ran first).
	sizes, err := filepath.Glob("build/*/bootstrap")
	if err != nil || len(sizes) == 0 {
		return fmt.Errorf("no build/*/bootstrap: run make build first")
	}
	var largest int64
	var name string
	for _, p := range sizes {
		st, _ := os.Stat(p)
		if st.Size() > largest {
			largest, name = st.Size(), filepath.Base(filepath.Dir(p))
		}
	}
	report(fmt.Sprintf("largest Lambda binary of %d (linux/arm64, stripped)", len(sizes)), "≤ 15 MB", "%.1f MB (%s)", float64(largest)/1e6, name)

	// 6. Init time of each bootstrap under the runtime emulator.
	return initTimes(ctx, moto.URL, sizes)
}

// initTimes starts every bootstrap (built for this host) under the Lambda
// Runtime Interface Emulator five times and takes the median time from
// process start to the answer of a first invocation (a GET /instance-like
// cheap event for HTTP functions, the sample event otherwise).
func initTimes(ctx context.Context, endpoint string, armBinaries []string) error {
	rie := os.Getenv("FEDGATE_RIE")
	if rie == "" {
		return fmt.Errorf("FEDGATE_RIE is not set (make bench sets it)")
	}
	bin, err := os.MkdirTemp("", "fedgate-bench-bin")
	if err != nil {
		return err
	}
	defer os.RemoveAll(bin)
	build := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w", "-o", bin+"/", "./functions/...")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build: %v\n%s", err, out)
	}
	a, err := newApp(ctx, endpoint, nil)
	if err != nil {
		return err
	}
	env := []string{"AWS_ENDPOINT_URL=" + endpoint, "AWS_REGION=" + localaws.Region, "AWS_ACCESS_KEY_ID=local",
		"AWS_SECRET_ACCESS_KEY=local", "AWS_EC2_METADATA_DISABLED=true", "INSTANCE_URL=https://bench.example.org",
		"KMS_KEY_ID=" + a.Config.KMSKeyID}
	for logical, physical := range a.Config.Tables {
		env = append(env, store.EnvVar(logical)+"="+physical)
	}
	for name, url := range a.Config.Queues {
		env = append(env, queue.URLEnvVar(name)+"="+url)
	}
	var detail strings.Builder
	detail.WriteString("\n## Per function\n\n| function | size (arm64) | init + first invocation (median of 5) |\n|---|---|---|\n")
	var medians []time.Duration
	worst, worstName := time.Duration(0), ""
	for _, arm := range armBinaries {
		name := filepath.Base(filepath.Dir(arm))
		event, err := os.ReadFile(filepath.Join("events", name+".json"))
		if err != nil {
			return err
		}
		var runs []time.Duration
		for range 5 {
			d, err := timeFirstInvoke(rie, filepath.Join(bin, name), env, event)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			runs = append(runs, d)
		}
		slices.Sort(runs)
		med := runs[2]
		medians = append(medians, med)
		if med > worst {
			worst, worstName = med, name
		}
		st, _ := os.Stat(arm)
		fmt.Fprintf(&detail, "| %s | %.1f MB | %d ms |\n", name, float64(st.Size())/1e6, med.Milliseconds())
	}
	slices.Sort(medians)
	report("init + first invocation under the emulator, median over functions", "< 100 ms (init)", "%d ms (slowest: %s, %d ms)",
		medians[len(medians)/2].Milliseconds(), worstName, worst.Milliseconds())
	extra = detail.String()
	return nil
}

// timeFirstInvoke measures process start → answer of the first invocation.
func timeFirstInvoke(rie, bootstrap string, env []string, event []byte) (time.Duration, error) {
	port, _ := localaws.FreePort()
	apiPort, _ := localaws.FreePort()
	start := time.Now()
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", fmt.Sprintf("127.0.0.1:%d", port),
		"--runtime-api-address", fmt.Sprintf("127.0.0.1:%d", apiPort), bootstrap)
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	url := fmt.Sprintf("http://127.0.0.1:%d/2015-03-31/functions/function/invocations", port)
	for time.Since(start) < 10*time.Second {
		resp, err := http.Post(url, "application/json", bytes.NewReader(event))
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return time.Since(start), nil
		}
		time.Sleep(2 * time.Millisecond)
	}
	return 0, fmt.Errorf("no answer within 10 s")
}

// extra is appended to results.md after the table.
var extra string

// counter counts SDK calls by service and operation.
type counter struct {
	calls map[string]*atomic.Int64
	// tableWrites counts DynamoDB single-item writes by table (the name's
	// last part: messages, limits, …).
	tableWrites map[string]*atomic.Int64
}

func (c *counter) option(o *aws.Config) {
	o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("count", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			op := middleware.GetServiceID(ctx) + "." + middleware.GetOperationName(ctx)
			// The table of a single-item write, read from the input's
			// TableName field (the store alone imports the DynamoDB SDK).
			var table *string
			if w := middleware.GetOperationName(ctx); w == "PutItem" || w == "UpdateItem" || w == "DeleteItem" {
				if v := reflect.ValueOf(in.Parameters); v.Kind() == reflect.Pointer {
					if f := v.Elem().FieldByName("TableName"); f.IsValid() {
						table, _ = f.Interface().(*string)
					}
				}
			}
			if table != nil {
				name := *table
				name = name[strings.LastIndex(name, "-")+1:]
				if c.tableWrites[name] == nil {
					c.tableWrites[name] = &atomic.Int64{}
				}
				c.tableWrites[name].Add(1)
			}
			if c.calls[op] == nil {
				c.calls[op] = &atomic.Int64{}
			}
			c.calls[op].Add(1)
			return next.HandleInitialize(ctx, in)
		}), middleware.After)
	})
}

func (c *counter) sum(match func(op string) bool) int64 {
	var n int64
	for op, v := range c.calls {
		if match(op) {
			n += v.Load()
		}
	}
	return n
}

func newApp(ctx context.Context, endpoint string, c *counter) (*app.App, error) {
	return newAppAlg(ctx, endpoint, c, signing.RS256)
}

func newAppAlg(ctx context.Context, endpoint string, c *counter, alg signing.Alg) (*app.App, error) {
	awsCfg := localaws.Config(endpoint)
	prefix := "b" + ids.Token(4) + "-"
	names := store.PrefixedNames(prefix)
	if err := store.CreateTables(ctx, awsCfg, names); err != nil {
		return nil, err
	}
	urls, _, err := queue.Create(ctx, sqs.NewFromConfig(awsCfg), prefix, time.Minute)
	if err != nil {
		return nil, err
	}
	key, err := kms.NewFromConfig(awsCfg).CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		return nil, err
	}
	cfg := config.Config{
		Identity: identity.Settings{Name: "bench", URL: "https://bench.example.org", Alg: alg, CommandTypes: config.DefaultCommandTypes},
		Tables:   names, Queues: urls, KMSKeyID: aws.ToString(key.KeyMetadata.KeyId),
	}
	// The default burst (so the same shares of 5 of a rate window), at a
	// rate no single benchmark loop reaches: the cost is measured, not the limit.
	cfg.PeerRate = ratelimit.Rule{Rate: 1000, Burst: 100}
	cfg.DevMode = true // the deliveries go to a peer on loopback
	cfg.Defaults()
	if c != nil {
		c.calls, c.tableWrites = map[string]*atomic.Int64{}, map[string]*atomic.Int64{}
		c.option(&awsCfg)
	}
	return app.New(cfg, awsCfg, slog.New(slog.NewJSONHandler(io.Discard, nil))), nil
}

func fanout(ctx context.Context, endpoint string, n int, signNs float64) error {
	var c counter
	a, err := newApp(ctx, endpoint, &c)
	if err != nil {
		return err
	}
	ws := "ws-bench"
	now := time.Now().UTC()
	// The subscribers' server takes every EVENT for later ACK (202): the
	// deliveries below cost what they cost with a real peer, minus its ACK.
	peerSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer peerSrv.Close()
	conns := make([]federation.Connection, n)
	for i := range conns {
		conns[i] = federation.Connection{ID: ids.New(), WorkspaceID: ws, RemoteInstanceID: ids.New(), RemoteURL: peerSrv.URL,
			Direction: federation.Inbound, Status: federation.StatusActive, CreatedAt: now, UpdatedAt: now}
	}
	if err := a.Store.Connections.Import(ctx, conns); err != nil {
		return err
	}
	for _, cn := range conns {
		if _, err := a.Store.Subscriptions.Set(ctx, store.SubscriptionChange{Workspace: ws, ConnectionID: cn.ID, Direction: federation.Inbound, EventType: "task.*", Active: true}); err != nil {
			return err
		}
	}
	published, err := a.Events.Publish(ctx, ws, events.PublishInput{EventType: "task.created", Payload: json.RawMessage(`{"taskId":"t1"}`)})
	if err != nil || published.Deliveries != n {
		return fmt.Errorf("publish: %d deliveries, %v", published.Deliveries, err)
	}
	eventID := published.EventID
	for k := range c.calls {
		c.calls[k].Store(0) // count the fan-out only
	}
	start := time.Now()
	jobs := []queue.Job{{WorkspaceID: ws, MessageID: eventID}}
	for len(jobs) > 0 {
		if err := a.Events.Fanout(ctx, jobs[0]); err != nil {
			return err
		}
		jobs = jobs[1:]
		// Continuations arrive on the fanout queue (the publish's own job,
		// without a cursor, is the one processed above).
		out, err := a.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(a.Config.Queues[queue.Fanout]), MaxNumberOfMessages: 10})
		if err != nil {
			return err
		}
		for _, m := range out.Messages {
			if next, err := queue.ParseJob(aws.ToString(m.Body)); err == nil && next.Cursor != "" {
				jobs = append(jobs, next)
			}
		}
	}
	wall := time.Since(start)
	sqsCalls := c.sum(func(op string) bool { return strings.HasPrefix(op, "SQS.Send") })
	writes := c.sum(func(op string) bool {
		return strings.HasPrefix(op, "DynamoDB.") && (strings.Contains(op, "Put") || strings.Contains(op, "Write") || strings.Contains(op, "Update") || strings.Contains(op, "Delete"))
	})
	reads := c.sum(func(op string) bool { return strings.HasPrefix(op, "DynamoDB.") }) - writes
	per := float64(n)
	report(fmt.Sprintf("fan-out 1→%d: SQS send calls per delivery", n), "≤ 0.2", "%.3f", float64(sqsCalls)/per)
	report(fmt.Sprintf("fan-out 1→%d: DynamoDB write calls per delivery", n), "≤ 1.1", "%.3f (reads %.3f)", float64(writes)/per, float64(reads)/per)
	report(fmt.Sprintf("fan-out 1→%d: wall time / signing %d envelopes (RS256)", n, n), "≤ 3×", "%.1f× (%s)", float64(wall.Nanoseconds())/(signNs*per), wall.Round(time.Millisecond))
	if n == 1000 {
		costModel(float64(writes)/per, float64(reads)/per, float64(sqsCalls)/per)
		return deliverAll(ctx, a, &c, ws, n)
	}
	return nil
}

// deliverAll runs the deliver function over the fan-out's n jobs and counts
// its DynamoDB writes by operation: the attempt record must ride in the
// update that stores the outcome, so a fan-out of 1,000 costs no extra write
// for its 1,000 attempt records.
func deliverAll(ctx context.Context, a *app.App, c *counter, ws string, n int) error {
	for _, m := range []map[string]*atomic.Int64{c.calls, c.tableWrites} {
		for k := range m {
			m[k].Store(0)
		}
	}
	// As an event source mapping would: take a batch, handle each job, delete
	// it. Jobs that wait (none should here) come back and are handled again.
	var delivered []string
	seen := map[string]bool{}
	jobs, empty := 0, 0
	queueURL := aws.String(a.Config.Queues[queue.Delivery])
	for len(delivered) < n {
		out, err := a.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: queueURL, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			return err
		}
		if len(out.Messages) == 0 {
			if empty++; empty > 20 {
				return fmt.Errorf("deliver: %d of %d delivered, and the queue is empty", len(delivered), n)
			}
			continue
		}
		for _, m := range out.Messages {
			job, err := queue.ParseJob(aws.ToString(m.Body))
			if err != nil {
				return err
			}
			if err := a.Deliverer.Handle(ctx, queue.Delivery, job); err != nil {
				return fmt.Errorf("deliver %s: %w", job.MessageID, err)
			}
			jobs++
			if _, err := a.SQS.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: queueURL, ReceiptHandle: m.ReceiptHandle}); err != nil {
				return err
			}
			if !seen[job.MessageID] {
				seen[job.MessageID] = true
				delivered = append(delivered, job.MessageID)
			}
		}
	}
	isWrite := func(op string) bool {
		return strings.HasPrefix(op, "DynamoDB.") && (strings.Contains(op, "Put") || strings.Contains(op, "Write") || strings.Contains(op, "Update") || strings.Contains(op, "Delete"))
	}
	// Every delivery has its attempt, or the count proves nothing.
	for _, id := range []string{delivered[0], delivered[n/2], delivered[n-1]} {
		rec, err := a.Store.Messages.Get(ctx, ws, id)
		if err != nil {
			return err
		}
		if len(rec.AttemptLog) != 1 || rec.AttemptLog[0].Status != http.StatusAccepted {
			return fmt.Errorf("delivery %s has attempts %+v, want one answered 202", id, rec.AttemptLog)
		}
	}
	per := func(table string) float64 {
		if w := c.tableWrites[table]; w != nil {
			return float64(w.Load()) / float64(n)
		}
		return 0
	}
	report(fmt.Sprintf("deliver 1→%d: DynamoDB writes per delivery, attempt record included", n), "attempt records add 0 writes",
		"%.2f: messages %.2f (the outcome's UpdateItem carries the attempt), limits %.2f (in-flight slot taken and freed), connections %.2f (peer health, at most once a minute per connection; each is new here); jobs %d",
		float64(c.sum(isWrite))/float64(n), per(store.MessagesTable), per(store.LimitsTable), per(store.ConnectionsTable), jobs)
	return nil
}

// costModel prices one million delivered events from the counted fan-out
// calls plus the deliver function's own calls per delivery (counted by the
// deliver row: get message, get connection; the outcome's update with its
// attempt record, the in-flight slot taken and freed; one receive and one
// delete per batch of 10).
func costModel(fanWrites, fanReads, fanSQS float64) {
	const deliverReads, deliverWrites = 2.0, 3.0
	const sqsPerDelivery = 0.2 // event source mapping: one receive and one delete per batch of 10
	// Assumed, not measured here: a deliver batch of 10 runs concurrently for
	// about one peer round trip (100 ms) at 256 MB.
	const invocationsPerDelivery = 0.1
	const gbSecondsPerDelivery = 0.1 * 0.25 / 10
	perDelivery := (fanWrites+deliverWrites)*prices.DynamoWriteUnit + (fanReads+deliverReads)*prices.DynamoReadUnit +
		(fanSQS+sqsPerDelivery)*prices.SQSRequest + invocationsPerDelivery*prices.LambdaRequest + gbSecondsPerDelivery*prices.LambdaGBSecondARM
	report("cost per million delivered events (sender side, prices in prices.go)", "", "$%.2f", perDelivery*1e6)
}

// incomingEvents runs the incoming-event handler in-process on one core:
// RS256-signed events from the peer, this instance's ACKs signed with alg.
func incomingEvents(ctx context.Context, endpoint string, alg signing.Alg) error {
	var calls counter
	a, err := newAppAlg(ctx, endpoint, &calls, alg)
	if err != nil {
		return err
	}
	peerKey, _ := signing.GenerateKey(signing.RS256)
	now := time.Now().UTC()
	conn := federation.Connection{ID: ids.New(), WorkspaceID: "ws", RemoteInstanceID: "peer", RemoteURL: "https://peer.example.org",
		Direction: federation.Inbound, Status: federation.StatusActive, CreatedAt: now, UpdatedAt: now,
		KeysFetchedAt: now, RemoteKeys: []federation.RemoteKey{{KeyID: peerKey.ID(), Alg: "RS256", PublicKey: peerKey.Public().PEM(), Status: "current"}}}
	if err := a.Store.Connections.Import(ctx, []federation.Connection{conn}); err != nil {
		return err
	}
	if _, err := a.Store.Subscriptions.Set(ctx, store.SubscriptionChange{Workspace: "ws", ConnectionID: conn.ID, Direction: federation.Outbound, EventType: "task.*", Active: true}); err != nil {
		return err
	}
	h := handlers.IncomingEvent(a)
	self, err := a.Identity.ID(ctx)
	if err != nil {
		return err
	}
	const n = 200
	bodies := make([]string, n)
	for i := range bodies {
		raw, _ := federation.Merge(federation.Envelope{MessageID: ids.New(), Type: federation.EnvEvent, InstanceID: "peer", ToInstanceID: self, ConnectionID: conn.ID, Timestamp: time.Now().UnixMilli()},
			federation.EventBody{EventType: "task.created", Payload: json.RawMessage(`{"i":1}`)})
		signed, _ := signing.Sign(peerKey, raw)
		bodies[i] = string(signed)
	}
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	_, _ = a.Identity.Signer(ctx) // the cold start is not part of the measurement
	prof, _ := os.Create("build/bench/incoming-event-" + string(alg) + ".pprof")
	if prof != nil {
		_ = pprof.StartCPUProfile(prof)
		defer func() { pprof.StopCPUProfile(); prof.Close() }()
	}
	everyCall := func(string) bool { return true }
	calls0 := calls.sum(everyCall)
	cpu0, wall0 := cpuTime(), time.Now()
	for _, b := range bodies {
		resp, err := h(ctx, httpapi.Request{Body: b})
		if err != nil || resp.StatusCode != 200 {
			return fmt.Errorf("status %d %v %s", resp.StatusCode, err, resp.Body)
		}
	}
	cpu, wall := cpuTime()-cpu0, time.Since(wall0)
	if alg == signing.RS256 {
		// The per-connection duplicate record is read only when the put
		// collides (a duplicate): a new event costs no extra call for it.
		report("incoming-event: AWS calls per new event: 5 to verify, store and answer (the per-connection duplicate record adds none), and a share of 5 of the connection's rate window now and then", "≤ 5 + 1 per 5 events", "%.2f", float64(calls.sum(everyCall)-calls0)/n)
	}
	report(fmt.Sprintf("incoming-event: RS256 events verified per CPU-second, one core (ACKs signed %s)", alg), "≥ 500/s", "%.0f/s (%.2f ms CPU/event; profile build/bench/incoming-event-%s.pprof)", n/cpu.Seconds(), cpu.Seconds()*1000/n, alg)
	report(fmt.Sprintf("incoming-event: events per wall second with moto_server behind (ACKs %s)", alg), "", "%.0f/s (%.1f ms/event, moto round trips)", n/wall.Seconds(), float64(wall.Milliseconds())/n)
	return nil
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
