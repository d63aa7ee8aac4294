package agents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/ids"
	"github.com/fedgate/fedgate/shared/messaging"
	"github.com/fedgate/fedgate/shared/orchestrator"
	"github.com/fedgate/fedgate/shared/platform"
	"github.com/fedgate/fedgate/shared/store"
)

// SpawnPayload is agent.spawn's payload.
type SpawnPayload struct {
	TaskID    string `json:"taskId"`
	AgentType string `json:"agentType"`
	Context   struct {
		Repository string   `json:"repository"`
		Branch     string   `json:"branch"`
		WorkItems  []string `json:"workItems"`
		Skills     []string `json:"skills,omitempty"`
	} `json:"context"`
	Options *struct {
		Priority *int `json:"priority,omitempty"`
	} `json:"options,omitempty"`
}

// AgentPayload is agent.status's and agent.kill's payload.
type AgentPayload struct {
	AgentID string `json:"agentId"`
}

// ValidateSpawn checks an agent.spawn payload, naming the bad field.
func ValidateSpawn(raw json.RawMessage) (*SpawnPayload, error) {
	var p SpawnPayload
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, federation.Invalidf("payload: %v", err)
	}
	switch {
	case p.TaskID == "":
		return nil, federation.Invalidf("taskId is required")
	case !slices.Contains(federation.AgentTypes, p.AgentType):
		return nil, federation.Invalidf("agentType must be one of worker, reviewer, tester")
	case p.Context.Repository == "" || p.Context.Branch == "":
		return nil, federation.Invalidf("context.repository and context.branch are required")
	case len(p.Context.WorkItems) == 0:
		return nil, federation.Invalidf("context.workItems must list at least one item")
	case p.Options != nil && p.Options.Priority != nil && (*p.Options.Priority < 1 || *p.Options.Priority > 10):
		return nil, federation.Invalidf("options.priority must be from 1 to 10")
	}
	return &p, nil
}

// ValidateAgent checks an agent.status / agent.kill payload.
func ValidateAgent(raw json.RawMessage) (*AgentPayload, error) {
	var p AgentPayload
	if err := json.Unmarshal(raw, &p); err != nil || p.AgentID == "" || len(p.AgentID) > 200 {
		return nil, federation.Invalidf("agentId is required")
	}
	return &p, nil
}

// Register adds the agent.* built-in commands to messaging: with an
// orchestrator they run there (and the agents are remembered for the
// watcher); without one they answer that this instance runs no agents.
func (s *Service) Register(m *messaging.Service) {
	spawnCheck := func(p json.RawMessage) error { _, err := ValidateSpawn(p); return err }
	agentCheck := func(p json.RawMessage) error { _, err := ValidateAgent(p); return err }
	run := map[string]func(ctx context.Context, req platform.Request) (orchestrator.Agent, error){
		"agent.spawn": func(ctx context.Context, req platform.Request) (orchestrator.Agent, error) {
			p, _ := ValidateSpawn(req.Payload)
			// The idempotency key is the command's own, on its connection: a
			// retried spawn is one agent, and no peer can make another
			// connection's spawn its own by reusing a messageId.
			return s.Orchestrator.Spawn(ctx, map[string]any{"taskId": p.TaskID, "agentType": p.AgentType, "context": p.Context,
				"options": p.Options, "idempotencyKey": ids.Derived("agent.spawn", req.ConnectionID, req.MessageID), "requestedBy": req.RemoteInstanceID})
		},
		"agent.status": func(ctx context.Context, req platform.Request) (orchestrator.Agent, error) {
			p, _ := ValidateAgent(req.Payload)
			if err := s.owned(ctx, req, p.AgentID); err != nil {
				return orchestrator.Agent{}, err
			}
			return s.Orchestrator.Status(ctx, p.AgentID)
		},
		"agent.kill": func(ctx context.Context, req platform.Request) (orchestrator.Agent, error) {
			p, _ := ValidateAgent(req.Payload)
			if err := s.owned(ctx, req, p.AgentID); err != nil {
				return orchestrator.Agent{}, err
			}
			return s.Orchestrator.Kill(ctx, p.AgentID)
		},
	}
	for name, fn := range run {
		check := agentCheck
		if name == "agent.spawn" {
			check = spawnCheck
		}
		m.RegisterCommand(name, messaging.Command{Check: check, Run: s.orchestrated(check, fn), Answered: s.CommandAnswered})
	}
}

// errNotFound answers agent.status and agent.kill about an agent the asking
// connection did not spawn, exactly as about an unknown one (PROTOCOL.md §7).
var errNotFound = &platform.Refusal{Reason: "not_found"}

// owned checks that the agent belongs to the connection asking about it.
func (s *Service) owned(ctx context.Context, req platform.Request, agentID string) error {
	_, err := s.Agents.GetLocal(ctx, req.WorkspaceID, req.ConnectionID, agentID)
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
func (s *Service) orchestrated(check func(json.RawMessage) error, fn func(context.Context, platform.Request) (orchestrator.Agent, error)) platform.Func {
	return func(ctx context.Context, req platform.Request) (federation.Response, error) {
		if s.Orchestrator == nil {
			return platform.Failure("this instance has no orchestrator configured"), nil
		}
		if err := check(req.Payload); err != nil {
			e, _ := federation.AsError(err)
			return platform.Failure(e.Message), nil
		}
		agent, err := fn(ctx, req)
		if _, retry := platform.IsRetry(err); retry {
			return federation.Response{}, err
		}
		if err != nil {
			s.Log.WarnContext(ctx, "agent command failed", "messageId", req.MessageID, "error", err.Error())
			return platform.Failure(platform.Told(err)), nil
		}
		// The record is what makes the agent this connection's: without it the
		// peer could not ask about its own agent, so its failure is retried
		// (the spawn is idempotent).
		local := federation.LocalAgent{WorkspaceID: req.WorkspaceID, ConnectionID: req.ConnectionID, AgentID: agent.AgentID, Status: agent.Status}
		if err := s.Agents.SaveLocal(ctx, local, federation.AgentFinished(agent.Status), s.Now()); err != nil {
			return federation.Response{}, &platform.RetryError{Err: fmt.Errorf("record the agent: %w", err)}
		}
		return platform.Success(agent)
	}
}

// Watch asks the orchestrator about every unfinished agent it runs for a
// peer and sends agent.status.changed to the peer that spawned it when its
// status changed (if that peer subscribed). The agents-watch function runs it.
func (s *Service) Watch(ctx context.Context) error {
	if s.Orchestrator == nil {
		return nil
	}
	watched, err := s.Agents.Watched(ctx, 100)
	if err != nil {
		return err
	}
	for _, w := range watched {
		agent, err := s.Orchestrator.Status(ctx, w.AgentID)
		if err != nil || agent.Status == w.Status {
			continue // asked again next time
		}
		w.Status = agent.Status
		data, _ := json.Marshal(agent)
		if _, err := s.Events.SendTo(ctx, w.WorkspaceID, w.ConnectionID, federation.AgentStatusChanged, data); err != nil {
			return err
		}
		if err := s.Agents.SaveLocal(ctx, w, federation.AgentFinished(agent.Status), s.Now()); err != nil {
			return err
		}
	}
	return nil
}
