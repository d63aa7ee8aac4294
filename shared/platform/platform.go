package platform

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/fedgate/fedgate/shared/federation"
)

// Request is an incoming query or command with where it came from.
type Request struct {
	WorkspaceID      string          `json:"workspaceId"`
	ConnectionID     string          `json:"connectionId"`
	RemoteInstanceID string          `json:"remoteInstanceId"`
	MessageID        string          `json:"messageId"`
	Query            string          `json:"query,omitempty"`
	Context          json.RawMessage `json:"context,omitempty"`
	CommandType      string          `json:"commandType,omitempty"`
	Payload          json.RawMessage `json:"payload,omitempty"`
}

// RetryError asks for the work to be tried again later (the backend was
// unreachable, busy or failing); After is its own hint, if any.
type RetryError struct {
	Err   error
	After time.Duration
}

func (e *RetryError) Error() string { return "temporarily failed: " + e.Err.Error() }
func (e *RetryError) Unwrap() error { return e.Err }

// Func handles one query or command type. A plain error is a final failure
// (reported as success=false); a *RetryError asks for another try.
type Func func(ctx context.Context, req Request) (federation.Response, error)

// Success builds a successful response with data.
func Success(data any) (federation.Response, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return federation.Response{}, fmt.Errorf("encode response data: %w", err)
	}
	return federation.Response{Success: true, Data: raw}, nil
}

// Refusal is a failure whose reason may be told to the peer. Every other
// error is an internal detail: the peer learns only that the work failed,
// operators read the detail in the logs.
type Refusal struct{ Reason string }

func (r *Refusal) Error() string { return r.Reason }

// Told is what a peer may be told of err.
func Told(err error) string {
	var r *Refusal
	if errors.As(err, &r) {
		return r.Reason
	}
	return "the work failed on the receiving instance"
}

// Failure builds a failed response.
func Failure(msg string) federation.Response { return federation.Response{Success: false, Error: msg} }

// Relay forwards a request to the local platform's API: POST the Request as
// JSON, expect {success, data?, error?} (any other JSON answer counts as data).
type Relay struct {
	URL  string
	HTTP *http.Client
}

// Call relays req. Network errors, 429 and 5xx are *RetryError; other
// non-2xx answers are final failures.
func (r *Relay) Call(ctx context.Context, req Request) (federation.Response, error) {
	body, _ := json.Marshal(req)
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, bytes.NewReader(body))
	if err != nil {
		return federation.Response{}, fmt.Errorf("relay: %w", err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := r.HTTP.Do(hreq)
	if err != nil {
		return federation.Response{}, &RetryError{Err: fmt.Errorf("backend unreachable: %w", err)}
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		return federation.Response{}, &RetryError{Err: fmt.Errorf("backend answered %d", resp.StatusCode), After: retryAfter(resp.Header.Get("Retry-After"))}
	}
	if resp.StatusCode >= 300 {
		return Failure(fmt.Sprintf("the platform refused the request (%d)", resp.StatusCode)), nil
	}
	var shaped struct {
		Success *bool           `json:"success"`
		Data    json.RawMessage `json:"data"`
		Error   string          `json:"error"`
	}
	if json.Unmarshal(data, &shaped) == nil && shaped.Success != nil {
		return federation.Response{Success: *shaped.Success, Data: shaped.Data, Error: shaped.Error}, nil
	}
	if !json.Valid(data) {
		return Failure("backend answered with invalid JSON"), nil
	}
	return federation.Response{Success: true, Data: data}, nil
}

func retryAfter(v string) time.Duration {
	if secs, err := strconv.Atoi(v); err == nil && secs > 0 {
		return time.Duration(secs) * time.Second
	}
	return 0
}

// IsRetry reports whether err asks for another try, and the hinted delay.
func IsRetry(err error) (time.Duration, bool) {
	var r *RetryError
	if errors.As(err, &r) {
		return r.After, true
	}
	return 0, false
}

// NewRelay returns a relay to the platform API at url ("" means none: nil).
func NewRelay(url string) *Relay {
	if url == "" {
		return nil
	}
	return &Relay{URL: url, HTTP: &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}
