// Package orchestrator is the dispatcher's client of the local orchestrator's
// HTTP API (POST /agents/spawn, GET /agents/{id}/status, POST
// /agents/{id}/kill), authenticated with an X-API-Key header, and the
// agent.* command handlers built on it.
package orchestrator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/fedgate/fedgate/shared/backend"
	"github.com/fedgate/fedgate/shared/federation"
)

// Agent types and statuses (PROTOCOL.md §7).
var (
	AgentTypes    = []string{"worker", "reviewer", "tester"}
	AgentStatuses = []string{"spawning", "running", "completed", "failed", "killed"}
)

// KeySource yields the API key; in AWS it reads Secrets Manager once per cold start.
type KeySource func(ctx context.Context) (string, error)

// Client calls the orchestrator.
type Client struct {
	baseURL string
	key     KeySource
	http    *http.Client
}

// New returns a client for the orchestrator at baseURL.
func New(baseURL string, key KeySource) *Client {
	return &Client{baseURL: baseURL, key: key, http: &http.Client{Timeout: 10 * time.Second}}
}

// call sends one request and maps the answer: 2xx → the JSON body; 429 and
// 5xx and network errors → *backend.RetryError (honouring Retry-After);
// other 4xx → a final failure carrying the orchestrator's error.
func (c *Client) call(ctx context.Context, method, path string, body any) (json.RawMessage, error) {
	key, err := c.key(ctx)
	if err != nil {
		return nil, &backend.RetryError{Err: fmt.Errorf("orchestrator API key: %w", err)}
	}
	var rd io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.baseURL+path, rd)
	if err != nil {
		return nil, fmt.Errorf("orchestrator request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", key)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, &backend.RetryError{Err: fmt.Errorf("orchestrator unreachable: %w", err)}
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		after := time.Duration(0)
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
			after = time.Duration(s) * time.Second
		}
		return nil, &backend.RetryError{Err: fmt.Errorf("orchestrator answered %d: %s", resp.StatusCode, message(data)), After: after}
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, fmt.Errorf("orchestrator rejected the API key (%d): %s", resp.StatusCode, message(data))
	case resp.StatusCode >= 300:
		return nil, fmt.Errorf("orchestrator answered %d: %s", resp.StatusCode, message(data))
	}
	return data, nil
}

// message extracts the error text of an orchestrator answer.
func message(data []byte) string {
	var e struct {
		Error   any    `json:"error"`
		Message string `json:"message"`
	}
	if json.Unmarshal(data, &e) == nil {
		if e.Message != "" {
			return e.Message
		}
		if s, ok := e.Error.(string); ok {
			return s
		}
	}
	return string(bytes.TrimSpace(data))
}

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
		return nil, fmt.Errorf("payload: %v", err)
	}
	switch {
	case p.TaskID == "":
		return nil, fmt.Errorf("taskId is required")
	case !contains(AgentTypes, p.AgentType):
		return nil, fmt.Errorf("agentType must be one of worker, reviewer, tester")
	case p.Context.Repository == "" || p.Context.Branch == "":
		return nil, fmt.Errorf("context.repository and context.branch are required")
	case len(p.Context.WorkItems) == 0:
		return nil, fmt.Errorf("context.workItems must list at least one item")
	case p.Options != nil && p.Options.Priority != nil && (*p.Options.Priority < 1 || *p.Options.Priority > 10):
		return nil, fmt.Errorf("options.priority must be from 1 to 10")
	}
	return &p, nil
}

// ValidateAgent checks an agent.status / agent.kill payload.
func ValidateAgent(raw json.RawMessage) (*AgentPayload, error) {
	var p AgentPayload
	if err := json.Unmarshal(raw, &p); err != nil || p.AgentID == "" || len(p.AgentID) > 200 {
		return nil, fmt.Errorf("agentId is required")
	}
	return &p, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Handlers returns the agent.* command handlers for the dispatcher.
func (c *Client) Handlers() map[string]backend.Func {
	return map[string]backend.Func{
		"agent.spawn": func(ctx context.Context, req backend.Request) (federation.Response, error) {
			p, err := ValidateSpawn(req.Payload)
			if err != nil {
				return backend.Failure(err.Error()), nil
			}
			// The command's id is the idempotency key: a retried spawn is one agent.
			body := map[string]any{"taskId": p.TaskID, "agentType": p.AgentType, "context": p.Context,
				"options": p.Options, "idempotencyKey": req.MessageID, "requestedBy": req.RemoteInstanceID}
			return c.result(c.call(ctx, http.MethodPost, "/agents/spawn", body))
		},
		"agent.status": func(ctx context.Context, req backend.Request) (federation.Response, error) {
			p, err := ValidateAgent(req.Payload)
			if err != nil {
				return backend.Failure(err.Error()), nil
			}
			return c.result(c.call(ctx, http.MethodGet, "/agents/"+url.PathEscape(p.AgentID)+"/status", nil))
		},
		"agent.kill": func(ctx context.Context, req backend.Request) (federation.Response, error) {
			p, err := ValidateAgent(req.Payload)
			if err != nil {
				return backend.Failure(err.Error()), nil
			}
			return c.result(c.call(ctx, http.MethodPost, "/agents/"+url.PathEscape(p.AgentID)+"/kill", nil))
		},
	}
}

// result maps the orchestrator's answer to COMMAND_RESPONSE data.
func (c *Client) result(data json.RawMessage, err error) (federation.Response, error) {
	if _, retry := backend.IsRetry(err); retry {
		return federation.Response{}, err
	}
	if err != nil {
		return backend.Failure(err.Error()), nil
	}
	var agent struct {
		AgentID     string `json:"agentId"`
		Status      string `json:"status"`
		SpawnedAt   string `json:"spawnedAt,omitempty"`
		CompletedAt string `json:"completedAt,omitempty"`
		Error       string `json:"error,omitempty"`
	}
	if err := json.Unmarshal(data, &agent); err != nil || agent.AgentID == "" || !contains(AgentStatuses, agent.Status) {
		return backend.Failure("the orchestrator's answer is not an agent"), nil
	}
	return backend.Success(agent)
}
