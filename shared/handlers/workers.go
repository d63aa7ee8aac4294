package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/aws/aws-lambda-go/events"

	"github.com/fedgate/fedgate/shared/app"
	"github.com/fedgate/fedgate/shared/faults"
	"github.com/fedgate/fedgate/shared/queue"
	"github.com/fedgate/fedgate/shared/trace"
)

// SQSHandler is a queue-triggered function (ReportBatchItemFailures).
type SQSHandler func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error)

// ScheduledHandler is a function run by an EventBridge schedule.
type ScheduledHandler func(ctx context.Context, ev events.CloudWatchEvent) error

// SQS and Scheduled map the workers' names to their constructors (see HTTP).
var (
	SQS = map[string]func(*app.App) SQSHandler{
		"fanout":       Fanout,
		"deliver":      Deliver,
		"ack":          Ack,
		"dispatcher":   Dispatcher,
		"dlq-recorder": DLQRecorder,
	}
	Scheduled = map[string]func(*app.App) ScheduledHandler{
		"timeouts":     Timeouts,
		"sweeper":      Sweeper,
		"agents-watch": AgentsWatch,
	}
)

// batchParallelism bounds how many records of one batch run at once: each
// mostly waits on a peer or DynamoDB.
const batchParallelism = 10

// jobs runs fn for every record of a batch, concurrently, and reports the
// records whose fn failed so only those come back. A record that is not a
// job can never succeed and is dropped with a log line. A crash point hit in
// any record dies with the whole invocation, as a Lambda would: the batch is
// not reported and comes back whole.
func jobs(a *app.App, name string, fn func(ctx context.Context, job queue.Job) error) SQSHandler {
	log := a.Log.With("function", name)
	return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		var (
			mu    sync.Mutex
			resp  events.SQSEventResponse
			wg    sync.WaitGroup
			sem   = make(chan struct{}, batchParallelism)
			crash any
		)
		for _, r := range ev.Records {
			job, err := queue.ParseJob(r.Body)
			if err != nil {
				log.ErrorContext(ctx, "malformed job dropped", "sqsMessageId", r.MessageId, "error", err.Error())
				continue
			}
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				// Each job continues the trace of the work that queued it.
				ctx := trace.Labeled(trace.Continue(ctx, job.TraceParent), slog.String("function", name))
				err := runJob(ctx, func(ctx context.Context, job queue.Job) error {
					err := fn(ctx, job)
					a.Faults.At(faults.MidBatch)
					return err
				}, job)
				mu.Lock()
				defer mu.Unlock()
				var c *crashed
				switch {
				case errors.As(err, &c):
					crash = c.value
				case err != nil:
					log.WarnContext(ctx, "job failed; it will be retried", "messageId", job.MessageID, "sqsMessageId", r.MessageId, "error", err.Error())
					resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
				}
			}()
		}
		wg.Wait()
		if crash != nil {
			panic(crash)
		}
		return resp, nil
	}
}

// crashed carries a crash point's panic out of a record's goroutine.
type crashed struct{ value any }

func (c *crashed) Error() string { return fmt.Sprint(c.value) }

func runJob(ctx context.Context, fn func(context.Context, queue.Job) error, job queue.Job) (err error) {
	defer func() {
		if p := recover(); p != nil {
			if faults.IsCrash(p) {
				err = &crashed{value: p}
				return
			}
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return fn(ctx, job)
}

// scheduled runs fn on every tick of its schedule, each run a trace of its own.
func scheduled(name string, fn func(ctx context.Context) error) ScheduledHandler {
	return func(ctx context.Context, _ events.CloudWatchEvent) error {
		return fn(trace.Labeled(trace.With(ctx, trace.New()), slog.String("function", name)))
	}
}

// Fanout is the fanout-queue consumer: one page of an event's subscribers.
func Fanout(a *app.App) SQSHandler { return jobs(a, "fanout", a.Events.Fanout) }

// Deliver is the delivery-queue consumer: signed messages to peers with retries.
func Deliver(a *app.App) SQSHandler {
	return jobs(a, "deliver", func(ctx context.Context, job queue.Job) error {
		return a.Deliverer.Handle(ctx, queue.Delivery, job)
	})
}

// Ack is the ack-queue consumer: EVENT_ACKs and COMMAND_RESPONSEs back to
// their senders, with the same retries.
func Ack(a *app.App) SQSHandler {
	return jobs(a, "ack", func(ctx context.Context, job queue.Job) error {
		return a.Deliverer.Handle(ctx, queue.Ack, job)
	})
}

// Dispatcher executes incoming commands and queues their COMMAND_RESPONSE.
func Dispatcher(a *app.App) SQSHandler { return jobs(a, "dispatcher", a.Messaging.Dispatch) }

// DLQRecorder consumes the dead-letter queues: it records the final failure
// on the message and raises the operational event.
func DLQRecorder(a *app.App) SQSHandler { return jobs(a, "dlq-recorder", a.Deliverer.DeadLettered) }

// Timeouts marks commands without a response in time as TIMEOUT and expires
// inbound connections no user accepted in time (every minute).
func Timeouts(a *app.App) ScheduledHandler {
	return scheduled("timeouts", func(ctx context.Context) error {
		if err := a.Messaging.Timeouts(ctx); err != nil {
			return err
		}
		return a.Connections.ExpirePending(ctx)
	})
}

// Sweeper sends the jobs a crash or an SQS failure left unsent, and the
// subscription syncs that are due (every minute).
func Sweeper(a *app.App) ScheduledHandler {
	return scheduled("sweeper", func(ctx context.Context) error {
		if _, err := a.Outbox.Sweep(ctx, a.Now(), a.Config.OutboxGrace); err != nil {
			return err
		}
		if _, err := a.Store.Connections.IndexAll(ctx); err != nil {
			return err
		}
		return a.Events.SyncDue(ctx)
	})
}

// AgentsWatch tells peers about status changes of the agents run here for
// them (every minute).
func AgentsWatch(a *app.App) ScheduledHandler { return scheduled("agents-watch", a.Agents.Watch) }
