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
		for name, fn := range client.Handlers() {
			a.Commands.Register(name, fn)
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
