package handlers

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/fedgate/fedgate/shared/api"
	"github.com/fedgate/fedgate/shared/app"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/orchestrator"
	"github.com/fedgate/fedgate/shared/store"
)

func init() {
	payloadChecks["agent.spawn"] = func(p json.RawMessage) error {
		if _, err := orchestrator.ValidateSpawn(p); err != nil {
			return api.ValidationFailed("%v", err)
		}
		return nil
	}
	agentCheck := func(p json.RawMessage) error {
		if _, err := orchestrator.ValidateAgent(p); err != nil {
			return api.ValidationFailed("%v", err)
		}
		return nil
	}
	payloadChecks["agent.status"] = agentCheck
	payloadChecks["agent.kill"] = agentCheck
}

type spawnRequest struct {
	ConnectionID string          `json:"connectionId"`
	TaskID       string          `json:"taskId"`
	AgentType    string          `json:"agentType"`
	Context      json.RawMessage `json:"context"`
	Options      json.RawMessage `json:"options,omitempty"`
}

// AgentsSpawn serves POST /agents/spawn: the agent.spawn COMMAND to a peer,
// 202 with the message; the agent appears in GET /agents once it answers.
func AgentsSpawn(a *app.App) api.LambdaHandler {
	return handle(a, "agents-spawn", func(ctx context.Context, c *api.Call) (int, any, error) {
		var req spawnRequest
		if err := c.Decode(&req); err != nil {
			return 0, nil, err
		}
		payload, _ := json.Marshal(map[string]any{"taskId": req.TaskID, "agentType": req.AgentType, "context": req.Context, "options": optional(req.Options)})
		if req.ConnectionID == "" {
			return 0, nil, api.ValidationFailed("connectionId is required")
		}
		if err := payloadChecks["agent.spawn"](payload); err != nil {
			return 0, nil, err
		}
		if err := followAgents(ctx, a, c, req.ConnectionID); err != nil {
			return 0, nil, err
		}
		return sendAgentCommand(ctx, a, c, req.ConnectionID, "agent.spawn", payload)
	})
}

// followAgents subscribes the workspace to agent.status.changed on the
// connection the first time it spawns there, so status reaches it without polling.
func followAgents(ctx context.Context, a *app.App, c *api.Call, connID string) error {
	ws := c.Claims.Workspace
	sub, err := a.Subs.Get(ctx, ws, connID, federation.Outbound, app.AgentStatusChanged)
	if err == nil && sub.IsActive {
		return nil
	}
	conn, err := activeConnection(ctx, a, ws, connID)
	if err != nil {
		return err
	}
	if _, err := a.Subs.Set(ctx, ws, conn.ID, federation.Outbound, app.AgentStatusChanged, true, nil); err != nil {
		return err
	}
	payload, _ := json.Marshal(map[string]string{"eventType": app.AgentStatusChanged})
	_, err = SendCommand(ctx, a, conn, "event.subscribe", payload)
	return err
}

func optional(raw json.RawMessage) any {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	return raw
}

func sendAgentCommand(ctx context.Context, a *app.App, c *api.Call, connID, commandType string, payload json.RawMessage) (int, any, error) {
	conn, err := activeConnection(ctx, a, c.Claims.Workspace, connID)
	if err != nil {
		return 0, nil, err
	}
	rec, err := SendCommand(ctx, a, conn, commandType, payload)
	if err != nil {
		return 0, nil, err
	}
	c.Log.Info(commandType+" sent", "messageId", rec.ID, "connectionId", conn.ID)
	return http.StatusAccepted, rec.Message, nil
}

// AgentsList serves GET /agents (?connectionId=): the agents this workspace
// knows from responses, without asking the peers.
func AgentsList(a *app.App) api.LambdaHandler {
	return handle(a, "agents-list", func(ctx context.Context, c *api.Call) (int, any, error) {
		limit, cursor, err := listParams(c)
		if err != nil {
			return 0, nil, err
		}
		page, err := a.Agents.List(ctx, c.Claims.Workspace, c.Query("connectionId"), limit, cursor)
		if err != nil {
			return 0, nil, storeError(err, "agent")
		}
		return http.StatusOK, page, nil
	})
}

// knownAgent checks that the caller's workspace knows the agent on that connection.
func knownAgent(ctx context.Context, a *app.App, c *api.Call, connID string) (*store.Agent, error) {
	if connID == "" {
		return nil, api.ValidationFailed("connectionId is required")
	}
	agent, err := a.Agents.Get(ctx, c.Claims.Workspace, connID, c.Param("agentId"))
	if err != nil {
		return nil, storeError(err, "agent")
	}
	return agent, nil
}

// AgentsGet serves GET /agents/{agentId}?connectionId=: sends agent.status
// (202 with the message); the record updates when the peer answers.
func AgentsGet(a *app.App) api.LambdaHandler {
	return handle(a, "agents-get", func(ctx context.Context, c *api.Call) (int, any, error) {
		agent, err := knownAgent(ctx, a, c, c.Query("connectionId"))
		if err != nil {
			return 0, nil, err
		}
		payload, _ := json.Marshal(map[string]string{"agentId": agent.AgentID})
		return sendAgentCommand(ctx, a, c, agent.ConnectionID, "agent.status", payload)
	})
}

type killRequest struct {
	ConnectionID string `json:"connectionId"`
}

// AgentsKill serves POST /agents/{agentId}/kill {connectionId}.
func AgentsKill(a *app.App) api.LambdaHandler {
	return handle(a, "agents-kill", func(ctx context.Context, c *api.Call) (int, any, error) {
		var req killRequest
		if err := c.Decode(&req); err != nil {
			return 0, nil, err
		}
		agent, err := knownAgent(ctx, a, c, req.ConnectionID)
		if err != nil {
			return 0, nil, err
		}
		payload, _ := json.Marshal(map[string]string{"agentId": agent.AgentID})
		return sendAgentCommand(ctx, a, c, agent.ConnectionID, "agent.kill", payload)
	})
}
