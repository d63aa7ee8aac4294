package handlers

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/fedgate/fedgate/shared/app"
	"github.com/fedgate/fedgate/shared/backend"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/ids"
	"github.com/fedgate/fedgate/shared/queue"
	"github.com/fedgate/fedgate/shared/store"
)

// SQSHandler is a queue-triggered function (ReportBatchItemFailures).
type SQSHandler func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error)

// ScheduledHandler is a function run by an EventBridge schedule.
type ScheduledHandler func(ctx context.Context, ev events.CloudWatchEvent) error

// batchParallelism bounds how many records of one batch run at once: each
// mostly waits on a peer or DynamoDB.
const batchParallelism = 10

// jobs runs fn for every record of a batch, concurrently, and reports the
// records whose fn failed so only those come back. A record that is not a
// job can never succeed and is dropped with a log line.
func jobs(a *app.App, name string, fn func(ctx context.Context, job queue.Job) error) SQSHandler {
	log := a.Log.With("function", name)
	return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		var (
			mu   sync.Mutex
			resp events.SQSEventResponse
			wg   sync.WaitGroup
			sem  = make(chan struct{}, batchParallelism)
		)
		for _, r := range ev.Records {
			job, err := queue.ParseJob(r.Body)
			if err != nil {
				log.Error("malformed job dropped", "sqsMessageId", r.MessageId, "error", err.Error())
				continue
			}
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				if err := runJob(ctx, fn, job); err != nil {
					log.Warn("job failed; it will be retried", "messageId", job.MessageID, "sqsMessageId", r.MessageId, "error", err.Error())
					mu.Lock()
					resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		return resp, nil
	}
}

func runJob(ctx context.Context, fn func(context.Context, queue.Job) error, job queue.Job) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return fn(ctx, job)
}

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

// Dispatcher executes incoming commands (built-ins, the orchestrator for
// agent.*, or the command backend) and queues their COMMAND_RESPONSE.
func Dispatcher(a *app.App) SQSHandler {
	return jobs(a, "dispatcher", func(ctx context.Context, job queue.Job) error {
		return dispatch(ctx, a, job)
	})
}

func dispatch(ctx context.Context, a *app.App, job queue.Job) error {
	now := a.Now()
	rec, err := a.Messages.Get(ctx, job.WorkspaceID, job.MessageID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if rec.MessageType != federation.TypeCommand || rec.Direction != federation.Inbound || federation.IsFinal(rec.Status) {
		return nil
	}
	if job.NotBefore > now.UnixMilli() {
		return a.Jobs.Send(ctx, queue.Dispatch, job, time.Until(time.UnixMilli(job.NotBefore)))
	}
	conn, err := a.Connections.Get(ctx, rec.WorkspaceID, rec.ConnectionID)
	if err != nil {
		return err
	}
	log := a.Log.With("messageId", rec.ID, "commandType", rec.CommandType)
	resp, err := a.Commands.Handle(ctx, rec.CommandType, backend.Request{
		WorkspaceID: rec.WorkspaceID, ConnectionID: conn.ID, RemoteInstanceID: conn.RemoteInstanceID,
		MessageID: rec.ID, CommandType: rec.CommandType, Payload: rec.Payload,
	})
	if hint, retry := backend.IsRetry(err); retry {
		attempts := rec.Attempts + 1
		// Retrying longer than the sender waits for its answer is pointless.
		policy := a.Config.Retry
		policy.MaxAge = a.Config.CommandTimeout
		delay := max(policy.Delay(attempts, nil), hint)
		next := now.Add(delay)
		if !policy.Exhausted(attempts, rec.CreatedAt, next) {
			log.Info("command backend busy; retrying", "attempt", attempts, "delayMs", delay.Milliseconds(), "error", err.Error())
			errText := err.Error()
			if _, uerr := a.Messages.Update(ctx, rec.WorkspaceID, rec.ID, store.MessageUpdate{
				Status: federation.MsgRetrying, Attempts: &attempts, NextAttemptAt: &next, Error: &errText,
			}); uerr != nil {
				return uerr
			}
			j := queue.Job{WorkspaceID: job.WorkspaceID, MessageID: job.MessageID}
			if delay > queue.MaxDelay {
				j.NotBefore = next.UnixMilli()
			}
			return a.Jobs.Send(ctx, queue.Dispatch, j, delay)
		}
		resp = backend.Failure("gave up after " + fmt.Sprint(attempts) + " attempts: " + err.Error())
	} else if err != nil {
		resp = backend.Failure(err.Error())
	}
	return respond(ctx, a, rec, conn, resp)
}

// respond completes an incoming command and queues its COMMAND_RESPONSE in
// one transaction. The response's id is derived from the command, so a
// redelivered job writes the same response, not a second one.
func respond(ctx context.Context, a *app.App, rec *store.MessageRecord, conn *federation.Connection, resp federation.Response) error {
	body := federation.ResponseBody{CorrelationID: rec.ID, Success: resp.Success, Data: resp.Data, Error: resp.Error}
	out, err := controlMessage(a, conn, federation.EnvCommandResponse, body)
	if err != nil {
		return err
	}
	out.ID = ids.Derived(conn.ID, rec.ID, federation.EnvCommandResponse)
	out.SK = "MSG#" + out.ID
	out.OutboxQueue = queue.Ack
	status := federation.MsgCompleted
	if !resp.Success {
		status = federation.MsgFailed
	}
	now := a.Now().UTC()
	errText := resp.Error
	err = a.Messages.UpdateWith(ctx, rec.WorkspaceID, rec.ID, store.MessageUpdate{
		Status: status, Response: &resp, Error: &errText, CompletedAt: &now, ClearNext: true, ClearOutbox: true,
	}, out)
	if errors.Is(err, store.ErrConflict) {
		return nil // a redelivered job already answered
	}
	if err != nil {
		return err
	}
	a.Log.Info("command answered", "messageId", rec.ID, "success", resp.Success)
	a.Outbox.Kick(ctx, out)
	return nil
}

// DLQRecorder consumes the dead-letter queues: it records the final failure
// on the message and raises the operational event.
func DLQRecorder(a *app.App) SQSHandler {
	return jobs(a, "dlq-recorder", func(ctx context.Context, job queue.Job) error {
		rec, err := a.Messages.Get(ctx, job.WorkspaceID, job.MessageID)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		now := a.Now().UTC()
		u := store.MessageUpdate{DeadLetteredAt: &now, From: federation.MessageStatuses, ClearDeadline: true}
		if !federation.IsFinal(rec.Status) {
			reason := "dead-lettered: the job failed repeatedly"
			if rec.Error != "" {
				reason += "; last error: " + rec.Error
			}
			u.Status, u.Error = federation.MsgFailed, &reason
		}
		if _, err := a.Messages.Update(ctx, rec.WorkspaceID, rec.ID, u); err != nil {
			return err
		}
		a.Log.Error("operational event", "event", "federation.message.dead_lettered",
			"messageId", rec.ID, "connectionId", rec.ConnectionID, "type", rec.MessageType, "error", rec.Error)
		return nil
	})
}

// Timeouts marks commands that got no response within the command timeout
// as TIMEOUT (scheduled every minute).
func Timeouts(a *app.App) ScheduledHandler {
	return func(ctx context.Context, _ events.CloudWatchEvent) error {
		for {
			due, err := a.Messages.DueDeadlines(ctx, a.Now(), 100)
			if err != nil {
				return err
			}
			for _, rec := range due {
				reason := fmt.Sprintf("no response within %s", a.Config.CommandTimeout)
				now := a.Now().UTC()
				_, err := a.Messages.Update(ctx, rec.WorkspaceID, rec.ID, store.MessageUpdate{
					Status: federation.MsgTimeout, From: []string{federation.MsgPending, federation.MsgRetrying, federation.MsgDelivered},
					Error: &reason, CompletedAt: &now, ClearDeadline: true, ClearNext: true,
				})
				if errors.Is(err, store.ErrConflict) {
					// Finished meanwhile: only take it off the deadline index.
					_, err = a.Messages.Update(ctx, rec.WorkspaceID, rec.ID, store.MessageUpdate{From: federation.MessageStatuses, ClearDeadline: true})
				}
				if err != nil {
					return err
				}
				a.Log.Info("command timed out", "messageId", rec.ID)
			}
			if len(due) < 100 {
				return nil
			}
		}
	}
}

// Sweeper sends the jobs that a crash or an SQS failure left unsent
// (scheduled every minute; see delivery.Outbox).
func Sweeper(a *app.App) ScheduledHandler {
	return func(ctx context.Context, _ events.CloudWatchEvent) error {
		_, err := a.Outbox.Sweep(ctx, a.Now(), a.Config.OutboxGrace)
		return err
	}
}
