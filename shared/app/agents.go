package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/fedgate/fedgate/shared/backend"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/orchestrator"
	"github.com/fedgate/fedgate/shared/store"
)

// registerAgents wires both sides of agents via federation: on a spoke the
// agent.* commands go to the orchestrator; on a hub every agent.* response
// updates the agent records that GET /agents lists.
func registerAgents(a *App, awsCfg aws.Config) {
	if a.Config.OrchestratorURL != "" {
		client := orchestrator.New(strings.TrimRight(a.Config.OrchestratorURL, "/"), apiKeySource(a, awsCfg))
		a.Orchestrator = client
		for name, fn := range client.Handlers() {
			a.Commands.Register(name, trackLocal(a, fn))
		}
	} else {
		for _, name := range []string{"agent.spawn", "agent.status", "agent.kill"} {
			a.Commands.Register(name, func(context.Context, backend.Request) (federation.Response, error) {
				return backend.Failure("this instance has no orchestrator configured"), nil
			})
		}
	}
	a.CommandObservers = append(a.CommandObservers, func(ctx context.Context, rec *store.MessageRecord) {
		if err := recordAgent(ctx, a, rec); err != nil {
			a.Log.Warn("agent record not updated", "messageId", rec.ID, "error", err.Error())
		}
	})
	a.EventObservers = append(a.EventObservers, func(ctx context.Context, rec *store.MessageRecord) {
		if rec.EventType != AgentStatusChanged {
			return
		}
		if err := agentStatusEvent(ctx, a, rec); err != nil {
			a.Log.Warn("agent record not updated from event", "messageId", rec.ID, "error", err.Error())
		}
	})
}

// AgentStatusChanged is the event a spoke sends to the peer that spawned an
// agent when the orchestrator reports a new status.
const AgentStatusChanged = "agent.status.changed"

// agentStatus is the data of agent responses and of agent.status.changed events.
type agentStatus struct {
	AgentID     string     `json:"agentId"`
	Status      string     `json:"status"`
	SpawnedAt   *time.Time `json:"spawnedAt,omitempty"`
	CompletedAt *time.Time `json:"completedAt,omitempty"`
	Error       string     `json:"error,omitempty"`
}

func finished(status string) bool {
	return status == "completed" || status == "failed" || status == "killed"
}

// trackLocal remembers, on the spoke, the agents its orchestrator runs for a
// peer, so agents-watch can tell the peer about status changes.
func trackLocal(a *App, fn backend.Func) backend.Func {
	return func(ctx context.Context, req backend.Request) (federation.Response, error) {
		resp, err := fn(ctx, req)
		if err == nil && resp.Success {
			var st agentStatus
			if json.Unmarshal(resp.Data, &st) == nil && st.AgentID != "" {
				local := store.LocalAgent{WorkspaceID: req.WorkspaceID, ConnectionID: req.ConnectionID, AgentID: st.AgentID, Status: st.Status}
				if serr := a.Agents.SaveLocal(ctx, local, finished(st.Status), a.Now()); serr != nil {
					a.Log.Warn("local agent not recorded", "agentId", st.AgentID, "error", serr.Error())
				}
			}
		}
		return resp, err
	}
}

// WatchAgents asks the orchestrator about every unfinished local agent and
// sends agent.status.changed to the peer that spawned it when its status
// changed (if that peer subscribed). The agents-watch function runs it.
func (a *App) WatchAgents(ctx context.Context) error {
	if a.Orchestrator == nil {
		return nil
	}
	status := a.Orchestrator.Handlers()["agent.status"]
	watched, err := a.Agents.Watched(ctx, 100)
	if err != nil {
		return err
	}
	for _, w := range watched {
		payload, _ := json.Marshal(map[string]string{"agentId": w.AgentID})
		resp, err := status(ctx, backend.Request{WorkspaceID: w.WorkspaceID, ConnectionID: w.ConnectionID, Payload: payload})
		if err != nil || !resp.Success {
			continue // asked again next time
		}
		var st agentStatus
		if json.Unmarshal(resp.Data, &st) != nil || st.Status == w.Status {
			continue
		}
		w.Status = st.Status
		if _, err := a.Events.SendTo(ctx, w.WorkspaceID, w.ConnectionID, AgentStatusChanged, resp.Data); err != nil {
			return err
		}
		if err := a.Agents.SaveLocal(ctx, w, finished(st.Status), a.Now()); err != nil {
			return err
		}
	}
	return nil
}

// agentStatusEvent updates the hub's record of an agent it knows on that connection.
func agentStatusEvent(ctx context.Context, a *App, rec *store.MessageRecord) error {
	var st agentStatus
	if err := json.Unmarshal(rec.Payload, &st); err != nil || st.AgentID == "" {
		return errors.New("agent.status.changed without agentId")
	}
	if _, err := a.Agents.Get(ctx, rec.WorkspaceID, rec.ConnectionID, st.AgentID); err != nil {
		return nil // not an agent this workspace spawned on that connection
	}
	return a.Agents.Save(ctx, rec.WorkspaceID, store.Agent{
		AgentID: st.AgentID, ConnectionID: rec.ConnectionID, Status: st.Status, SpawnedAt: st.SpawnedAt,
		CompletedAt: st.CompletedAt, Error: st.Error, UpdatedAt: a.Now().UTC(),
	})
}

// apiKeySource returns the orchestrator API key: the configured one, or the
// Secrets Manager secret, read once per cold start (and again after a failure).
func apiKeySource(a *App, awsCfg aws.Config) orchestrator.KeySource {
	if a.Config.OrchestratorAPIKey != "" || a.Config.OrchestratorSecretARN == "" {
		key := a.Config.OrchestratorAPIKey
		return func(context.Context) (string, error) { return key, nil }
	}
	var (
		mu  sync.Mutex
		key string
	)
	client := secretsmanager.NewFromConfig(awsCfg)
	return func(ctx context.Context) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		if key != "" {
			return key, nil
		}
		out, err := client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(a.Config.OrchestratorSecretARN)})
		if err != nil {
			return "", fmt.Errorf("read orchestrator secret: %w", err)
		}
		key = aws.ToString(out.SecretString)
		return key, nil
	}
}

// recordAgent updates the hub's agent record from a finished agent.* command.
func recordAgent(ctx context.Context, a *App, rec *store.MessageRecord) error {
	if !strings.HasPrefix(rec.CommandType, "agent.") || rec.Response == nil {
		return nil
	}
	var data struct {
		AgentID     string     `json:"agentId"`
		Status      string     `json:"status"`
		SpawnedAt   *time.Time `json:"spawnedAt"`
		CompletedAt *time.Time `json:"completedAt"`
		Error       string     `json:"error"`
	}
	_ = json.Unmarshal(rec.Response.Data, &data)
	var asked struct {
		AgentID   string `json:"agentId"`
		TaskID    string `json:"taskId"`
		AgentType string `json:"agentType"`
	}
	_ = json.Unmarshal(rec.Payload, &asked)
	agent := store.Agent{
		AgentID: data.AgentID, ConnectionID: rec.ConnectionID, Status: data.Status, SpawnedAt: data.SpawnedAt,
		CompletedAt: data.CompletedAt, Error: data.Error, UpdatedAt: a.Now().UTC(),
	}
	if rec.CommandType == "agent.spawn" {
		agent.TaskID, agent.AgentType = asked.TaskID, asked.AgentType
	}
	if !rec.Response.Success {
		if asked.AgentID == "" {
			return nil // a failed spawn has no agent
		}
		agent.AgentID, agent.Status, agent.Error = asked.AgentID, "", rec.Response.Error
		if _, err := a.Agents.Get(ctx, rec.WorkspaceID, rec.ConnectionID, asked.AgentID); errors.Is(err, store.ErrNotFound) {
			return nil
		}
	}
	if agent.AgentID == "" {
		return errors.New("agent response without agentId")
	}
	return a.Agents.Save(ctx, rec.WorkspaceID, agent)
}
