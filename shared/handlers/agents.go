package handlers

import (
	"context"
	"net/http"

	"github.com/fedgate/fedgate/shared/agents"
	"github.com/fedgate/fedgate/shared/app"
	"github.com/fedgate/fedgate/shared/httpapi"
)

var agentRoutes = routeHandlers{
	"agents-spawn": AgentsSpawn,
	"agents-list":  AgentsList,
	"agents-get":   AgentsGet,
	"agents-kill":  AgentsKill,
}

// AgentsSpawn serves POST /agents/spawn: 202 with the agent.spawn command.
func AgentsSpawn(a *app.App) httpapi.LambdaHandler {
	return handle(a, "agents-spawn", func(ctx context.Context, c *httpapi.Call) (int, any, error) {
		var in agents.SpawnInput
		if err := c.Decode(&in); err != nil {
			return 0, nil, err
		}
		msg, err := a.Agents.Spawn(ctx, c.Claims.Workspace, in)
		return http.StatusAccepted, msg, err
	})
}

// AgentsList serves GET /agents (?connectionId=).
func AgentsList(a *app.App) httpapi.LambdaHandler {
	return handle(a, "agents-list", func(ctx context.Context, c *httpapi.Call) (int, any, error) {
		limit, cursor, err := listParams(c)
		if err != nil {
			return 0, nil, err
		}
		page, err := a.Agents.List(ctx, c.Claims.Workspace, c.Query("connectionId"), limit, cursor)
		return http.StatusOK, page, err
	})
}

// AgentsGet serves GET /agents/{agentId}?connectionId=: 202 with the
// agent.status command; the record updates when the peer answers.
func AgentsGet(a *app.App) httpapi.LambdaHandler {
	return handle(a, "agents-get", func(ctx context.Context, c *httpapi.Call) (int, any, error) {
		msg, err := a.Agents.Status(ctx, c.Claims.Workspace, c.Query("connectionId"), c.Param("agentId"))
		return http.StatusAccepted, msg, err
	})
}

type killRequest struct {
	ConnectionID string `json:"connectionId"`
}

// AgentsKill serves POST /agents/{agentId}/kill {connectionId}.
func AgentsKill(a *app.App) httpapi.LambdaHandler {
	return handle(a, "agents-kill", func(ctx context.Context, c *httpapi.Call) (int, any, error) {
		var in killRequest
		if err := c.Decode(&in); err != nil {
			return 0, nil, err
		}
		msg, err := a.Agents.Kill(ctx, c.Claims.Workspace, in.ConnectionID, c.Param("agentId"))
		return http.StatusAccepted, msg, err
	})
}
