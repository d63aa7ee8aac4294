package messaging

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fedgate/fedgate/shared/delivery"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/platform"
	"github.com/fedgate/fedgate/shared/queue"
	"github.com/fedgate/fedgate/shared/store"
	"github.com/fedgate/fedgate/shared/trace"
)

// Dispatch executes an accepted incoming command (a dispatch job): the
// built-in for its type or the command backend, retrying while they ask for
// it within the command timeout, then answers with a COMMAND_RESPONSE.
func (s *Service) Dispatch(ctx context.Context, job queue.Job) error {
	now := s.now()
	rec, err := s.messages.Get(ctx, job.WorkspaceID, job.MessageID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if rec.MessageType != federation.TypeCommand || rec.Direction != federation.Inbound || rec.Status.Final() {
		return nil
	}
	if tc, ok := trace.FromID(rec.TraceID); ok {
		ctx = trace.With(ctx, tc) // the sender's trace, however the job came
	}
	if job.NotBefore > now.UnixMilli() {
		return s.jobs.Send(ctx, queue.Dispatch, job, time.UnixMilli(job.NotBefore).Sub(now))
	}
	conn, err := s.connections.Get(ctx, rec.WorkspaceID, rec.ConnectionID)
	if err != nil {
		return err
	}
	log := s.log.With("messageId", rec.ID, "commandType", rec.CommandType)
	// A backlog never runs what its sender gave up on, nor work for a peer
	// that is no longer connected (PROTOCOL.md §7).
	if (!rec.RunBefore.IsZero() && now.After(rec.RunBefore)) || conn.Status != federation.StatusActive {
		log.InfoContext(ctx, "command not run: expired", "connectionStatus", conn.Status)
		return s.respond(ctx, rec, conn, platform.Failure("expired"))
	}
	resp, err := s.runCommand(ctx, platform.Request{
		WorkspaceID: rec.WorkspaceID, ConnectionID: conn.ID, RemoteInstanceID: conn.RemoteInstanceID,
		MessageID: rec.ID, CommandType: rec.CommandType, Payload: rec.Payload,
	})
	if hint, retry := platform.IsRetry(err); retry {
		attempts := rec.Attempts + 1
		// Retrying longer than the sender waits for its answer is pointless.
		policy := s.retry
		policy.MaxAge = s.commandTimeout
		next := policy.Next(attempts, rec.CreatedAt, now, hint, nil)
		if !next.Exhausted {
			log.InfoContext(ctx, "command backend busy; retrying", "attempt", attempts, "delayMs", next.Delay.Milliseconds(), "error", err.Error())
			errText := err.Error()
			if _, uerr := s.messages.Update(ctx, rec.WorkspaceID, rec.ID, store.MessageUpdate{
				Step: federation.StepRetry, Attempts: &attempts, NextAttemptAt: &next.At, Error: &errText,
			}); uerr != nil {
				return uerr
			}
			return s.jobs.Send(ctx, queue.Dispatch, job.Retry(next.At, next.Delay), next.Delay)
		}
		log.WarnContext(ctx, "command gave up", "attempts", attempts, "error", err.Error())
		resp = platform.Failure(fmt.Sprintf("gave up after %d attempts: %s", attempts, platform.Told(err)))
	} else if err != nil {
		log.WarnContext(ctx, "command failed", "error", err.Error())
		resp = platform.Failure(platform.Told(err))
	}
	return s.respond(ctx, rec, conn, resp)
}

func (s *Service) runCommand(ctx context.Context, req platform.Request) (federation.Response, error) {
	if c, ok := s.commands[req.CommandType]; ok {
		return signable(c.run(ctx, req))
	}
	if s.commandBackend != nil {
		return signable(s.commandBackend.Call(ctx, req))
	}
	return platform.Failure(fmt.Sprintf("unknown command %q", req.CommandType)), nil
}

// respond completes an incoming command and queues its COMMAND_RESPONSE in
// one transaction. The response's id is derived from the command, so a
// redelivered job writes the same response, not a second one.
func (s *Service) respond(ctx context.Context, rec *store.MessageRecord, conn *federation.Connection, resp federation.Response) error {
	out, err := delivery.Control(conn, federation.EnvCommandResponse,
		federation.ResponseBody{CorrelationID: rec.ID, Success: resp.Success, Data: resp.Data, Error: resp.Error}, s.now())
	if err != nil {
		return err
	}
	out.ID = ResponseID(rec)
	out.Outbox = queue.Ack
	step := federation.StepComplete
	if !resp.Success {
		step = federation.StepAnswerFailed
	}
	now := s.now().UTC()
	errText := resp.Error
	err = s.messages.UpdateWith(ctx, rec.WorkspaceID, rec.ID, store.MessageUpdate{
		Step: step, Response: &resp, Error: &errText, CompletedAt: &now, ClearNext: true, ClearOutbox: true,
	}, out)
	if errors.Is(err, store.ErrConflict) {
		return nil // a redelivered job already answered
	}
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "command answered", "messageId", rec.ID, "success", resp.Success)
	s.outbox.Kick(ctx, out)
	return nil
}

// Timeouts marks commands that got no response within the command timeout
// as TIMEOUT, and hands event deliveries whose EVENT_ACK is overdue back to
// the deliverer.
func (s *Service) Timeouts(ctx context.Context) error {
	for {
		due, err := s.messages.DueDeadlines(ctx, s.now(), 100)
		if err != nil {
			return err
		}
		for _, rec := range due {
			if rec.MessageType == federation.TypeEvent {
				if err := s.acks.AckOverdue(ctx, rec); err != nil {
					return err
				}
				continue
			}
			reason := fmt.Sprintf("no response within %s", s.commandTimeout)
			now := s.now().UTC()
			_, err := s.messages.Update(ctx, rec.WorkspaceID, rec.ID, store.MessageUpdate{
				Step: federation.StepTimeout, Error: &reason, CompletedAt: &now, ClearDeadline: true, ClearNext: true,
			})
			if errors.Is(err, store.ErrConflict) {
				// Finished meanwhile: only take it off the deadline index.
				_, err = s.messages.Update(ctx, rec.WorkspaceID, rec.ID, store.MessageUpdate{Step: federation.StepStamp, ClearDeadline: true})
			}
			if err != nil {
				return err
			}
			s.log.InfoContext(ctx, "command timed out", "messageId", rec.ID)
		}
		if len(due) < 100 {
			return nil
		}
	}
}
