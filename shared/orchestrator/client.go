package orchestrator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/platform"
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
	return &Client{baseURL: baseURL, key: key, http: &http.Client{
		Timeout: 10 * time.Second,
		// A redirect would forward X-API-Key to wherever it points: never follow.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// call sends one request and maps the answer: 2xx → the JSON body; 429 and
// 5xx and network errors → *platform.RetryError (honouring Retry-After);
// other 4xx → a final failure carrying the orchestrator's error.
func (c *Client) call(ctx context.Context, method, path string, body any) (json.RawMessage, error) {
	key, err := c.key(ctx)
	if err != nil {
		return nil, &platform.RetryError{Err: fmt.Errorf("orchestrator API key: %w", err)}
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
		return nil, &platform.RetryError{Err: fmt.Errorf("%w: %v", errUnreachable, err)}
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		after := time.Duration(0)
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
			after = time.Duration(s) * time.Second
		}
		return nil, &platform.RetryError{Err: fmt.Errorf("%w (orchestrator answered %d: %s)", errBusy, resp.StatusCode, message(data)), After: after}
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, fmt.Errorf("%w (%d: %s)", errKeyRefused, resp.StatusCode, message(data))
	case resp.StatusCode == http.StatusNotFound:
		return nil, &platform.Refusal{Reason: "not_found"}
	case resp.StatusCode >= 300:
		return nil, fmt.Errorf("%w (orchestrator answered %d: %s)", errRefused, resp.StatusCode, message(data))
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

// Agent is what the orchestrator says about an agent.
type Agent struct {
	AgentID     string `json:"agentId"`
	Status      string `json:"status"`
	SpawnedAt   string `json:"spawnedAt,omitempty"`
	CompletedAt string `json:"completedAt,omitempty"`
	Error       string `json:"error,omitempty"`
}

// Failures a peer may be told of (the details stay in the logs).
var (
	errUnreachable = &platform.Refusal{Reason: "orchestrator unreachable"}
	errBusy        = &platform.Refusal{Reason: "the orchestrator is busy or failing"}
	errKeyRefused  = &platform.Refusal{Reason: "the orchestrator refused this instance's API key"}
	errNotAnAgent  = &platform.Refusal{Reason: "the orchestrator's answer is not an agent"}
	errRefused     = &platform.Refusal{Reason: "the orchestrator refused the request"}
)

// Spawn asks for a new agent; body is POST /agents/spawn's JSON.
func (c *Client) Spawn(ctx context.Context, body any) (Agent, error) {
	return agentOf(c.call(ctx, http.MethodPost, "/agents/spawn", body))
}

// Status asks for an agent's status.
func (c *Client) Status(ctx context.Context, agentID string) (Agent, error) {
	return agentOf(c.call(ctx, http.MethodGet, "/agents/"+url.PathEscape(agentID)+"/status", nil))
}

// Kill asks the orchestrator to kill an agent.
func (c *Client) Kill(ctx context.Context, agentID string) (Agent, error) {
	return agentOf(c.call(ctx, http.MethodPost, "/agents/"+url.PathEscape(agentID)+"/kill", nil))
}

// agentOf reads an agent from an answer: errors pass through (a retry stays
// a *platform.RetryError); an answer that is no agent is a final failure.
func agentOf(data json.RawMessage, err error) (Agent, error) {
	if err != nil {
		return Agent{}, err
	}
	var a Agent
	if err := json.Unmarshal(data, &a); err != nil || a.AgentID == "" || !slices.Contains(federation.AgentStatuses, a.Status) {
		return Agent{}, errNotAnAgent
	}
	return a, nil
}

// StaticKey is a KeySource for a key given in the configuration.
func StaticKey(key string) KeySource {
	return func(context.Context) (string, error) { return key, nil }
}

// SecretKey is a KeySource that reads the key from a Secrets Manager secret
// once per cold start (and again after a failure).
func SecretKey(awsCfg aws.Config, secretARN string) KeySource {
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
		out, err := client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretARN)})
		if err != nil {
			return "", fmt.Errorf("read orchestrator secret: %w", err)
		}
		key = aws.ToString(out.SecretString)
		return key, nil
	}
}
