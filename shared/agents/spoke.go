package agents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/ids"
	"github.com/fedgate/fedgate/shared/messaging"
	"github.com/fedgate/fedgate/shared/orchestrator"
	"github.com/fedgate/fedgate/shared/platform"
	"github.com/fedgate/fedgate/shared/store"
)

// Register adds the agent.* built-in commands to messaging: with an
// orchestrator they run there (and the agents are remembered for the
// watcher); without one they answer that this instance runs no agents.
func (s *Service) Register(m *messaging.Service) {
	messaging.RegisterCommand(m, messaging.Builtin[federation.SpawnPayload]{
		Name: federation.CommandAgentSpawn, Parse: federation.ParseSpawn, Answered: s.CommandAnswered,
		Run: orchestrated(s, func(ctx context.Context, req platform.Request, p federation.SpawnPayload) (orchestrator.Agent, error) {
			// The idempotency key is the command's own, on its connection: a
			// retried spawn is one agent, and no peer can make another
			// connection's spawn its own by reusing a messageId.
			return s.orchestrator.Spawn(ctx, map[string]any{"taskId": p.TaskID, "agentType": p.AgentType, "context": p.Context,
				"options": p.Options, "idempotencyKey": ids.Derived(federation.CommandAgentSpawn, req.ConnectionID, req.MessageID),
				"requestedBy": req.RemoteInstanceID})
		}),
	})
	for name, fn := range map[string]func(ctx context.Context, agentID string) (orchestrator.Agent, error){
		federation.CommandAgentStatus: func(ctx context.Context, id string) (orchestrator.Agent, error) {
			return s.orchestrator.Status(ctx, id)
		},
		federation.CommandAgentKill: func(ctx context.Context, id string) (orchestrator.Agent, error) { return s.orchestrator.Kill(ctx, id) },
	} {
		messaging.RegisterCommand(m, messaging.Builtin[federation.AgentPayload]{
			Name: name, Parse: federation.ParseAgent, Answered: s.CommandAnswered,
			Run: orchestrated(s, func(ctx context.Context, req platform.Request, p federation.AgentPayload) (orchestrator.Agent, error) {
				if err := s.owned(ctx, req, p.AgentID); err != nil {
					return orchestrator.Agent{}, err
				}
				return fn(ctx, p.AgentID)
			}),
		})
	}
}

// errNotFound answers agent.status and agent.kill about an agent the asking
// connection did not spawn, exactly as about an unknown one (PROTOCOL.md §7).
var errNotFound = &platform.Refusal{Reason: "not_found"}

// owned checks that the agent belongs to the connection asking about it.
func (s *Service) owned(ctx context.Context, req platform.Request, agentID string) error {
	_, err := s.agents.GetLocal(ctx, req.WorkspaceID, req.ConnectionID, agentID)
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return &platform.RetryError{Err: err}
	}
	return nil
}

// orchestrated runs an agent command against the orchestrator and remembers
// the agent it reports, so the watcher can tell the peer about changes.
func orchestrated[P any](s *Service, fn func(context.Context, platform.Request, P) (orchestrator.Agent, error)) func(context.Context, platform.Request, P) (federation.Response, error) {
	return func(ctx context.Context, req platform.Request, p P) (federation.Response, error) {
		if s.orchestrator == nil {
			return platform.Failure("this instance has no orchestrator configured"), nil
		}
		agent, err := fn(ctx, req, p)
		if _, retry := platform.IsRetry(err); retry {
			return federation.Response{}, err
		}
		if err != nil {
			s.log.WarnContext(ctx, "agent command failed", "messageId", req.MessageID, "error", err.Error())
			return platform.Failure(platform.Told(err)), nil
		}
		// The record is what makes the agent this connection's: without it the
		// peer could not ask about its own agent, so its failure is retried
		// (the spawn is idempotent).
		local := federation.LocalAgent{WorkspaceID: req.WorkspaceID, ConnectionID: req.ConnectionID, AgentID: agent.AgentID, Status: agent.Status}
		if err := s.agents.SaveLocal(ctx, local, federation.AgentFinished(agent.Status), s.now()); err != nil {
			return federation.Response{}, &platform.RetryError{Err: fmt.Errorf("record the agent: %w", err)}
		}
		return platform.Success(agent)
	}
}

// Watch asks the orchestrator about every unfinished agent it runs for a
// peer and sends agent.status.changed to the peer that spawned it when its
// status changed (if that peer subscribed). The agents-watch function runs it.
func (s *Service) Watch(ctx context.Context) error {
	if s.orchestrator == nil {
		return nil
	}
	watched, err := s.agents.Watched(ctx, 100)
	if err != nil {
		return err
	}
	for _, w := range watched {
		agent, err := s.orchestrator.Status(ctx, w.AgentID)
		if err != nil || agent.Status == w.Status {
			continue // asked again next time
		}
		w.Status = agent.Status
		data, _ := json.Marshal(agent)
		if _, err := s.events.SendTo(ctx, w.WorkspaceID, w.ConnectionID, federation.AgentStatusChanged, data); err != nil {
			return err
		}
		if err := s.agents.SaveLocal(ctx, w, federation.AgentFinished(agent.Status), s.now()); err != nil {
			return err
		}
	}
	return nil
}
