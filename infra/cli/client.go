package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/fedgate/fedgate/shared/routes"
)

// Client calls one instance's user API.
type Client struct {
	base  string // scheme://authority + the base path
	token string
	http  *http.Client
}

// NewClient returns a client of the instance at baseURL (scheme and
// authority; a trailing / or the base path is tolerated, as PROTOCOL.md §5
// tolerates them in remoteUrl).
func NewClient(baseURL, token string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(strings.TrimSpace(baseURL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("instance URL %q must be http(s)://host[:port]", baseURL)
	}
	path := strings.TrimSuffix(strings.TrimRight(u.Path, "/"), routes.BasePath)
	if path != "" {
		return nil, fmt.Errorf("instance URL %q must be scheme and authority only (the API lives under %s)", baseURL, routes.BasePath)
	}
	return &Client{base: u.Scheme + "://" + u.Host + routes.BasePath, token: token, http: hc}, nil
}

// APIError is a PROTOCOL error answer (PROTOCOL.md §1), or an answer that
// is not one but failed all the same.
type APIError struct {
	Status     int    `json:"-"`
	Code       string `json:"code"`
	Message    string `json:"message"`
	RequestID  string `json:"requestId"`
	RetryAfter string `json:"-"`
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
	if e.RequestID != "" {
		s += " (request " + e.RequestID + ")"
	}
	if e.RetryAfter != "" {
		s += " (retry after " + e.RetryAfter + " s)"
	}
	return s
}

// ExitCode maps the answer's status to the command's exit code.
func (e *APIError) ExitCode() int {
	switch {
	case e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden:
		return ExitAuth
	case e.Status == http.StatusNotFound:
		return ExitNotFound
	case e.Status == http.StatusBadRequest || e.Status == http.StatusConflict || e.Status == http.StatusRequestEntityTooLarge:
		return ExitRefused
	case e.Status == http.StatusTooManyRequests:
		return ExitRateLimited
	case e.Status == http.StatusBadGateway || e.Status == http.StatusGatewayTimeout:
		return ExitRemote
	}
	return ExitError
}

// Result is a successful answer.
type Result struct {
	Status int
	Header http.Header
	Body   []byte
}

// Decode unmarshals the answer's body.
func (a Result) Decode(v any) error {
	if err := json.Unmarshal(a.Body, v); err != nil {
		return fmt.Errorf("the instance answered %d with a body that is not the expected JSON: %w", a.Status, err)
	}
	return nil
}

// Do calls method path (under the base path) with an optional JSON body and
// returns the answer, or an *APIError for a status of 400 or more.
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, body any) (Result, error) {
	var rd io.Reader
	if body != nil {
		data, err := withoutNulls(body)
		if err != nil {
			return Result{}, err
		}
		rd = bytes.NewReader(data)
	}
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return Result{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return Result{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return Result{}, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode >= 400 {
		e := &APIError{Status: resp.StatusCode, RetryAfter: resp.Header.Get("Retry-After")}
		var wrapped struct {
			Error   *APIError `json:"error"`
			Message string    `json:"message"` // API Gateway's own 401 {"message":"Unauthorized"}
		}
		switch {
		case json.Unmarshal(data, &wrapped) == nil && wrapped.Error != nil && wrapped.Error.Code != "":
			e.Code, e.Message, e.RequestID = wrapped.Error.Code, wrapped.Error.Message, wrapped.Error.RequestID
		case wrapped.Message != "":
			e.Code, e.Message = "http_"+fmt.Sprint(resp.StatusCode), wrapped.Message
		default:
			e.Code, e.Message = "http_"+fmt.Sprint(resp.StatusCode), strings.TrimSpace(string(data))
		}
		if e.RequestID == "" {
			e.RequestID = resp.Header.Get("X-Request-Id")
		}
		return Result{Status: resp.StatusCode, Header: resp.Header, Body: data}, e
	}
	return Result{Status: resp.StatusCode, Header: resp.Header, Body: data}, nil
}

// serverTime is the instance's clock at the answer (its Date header), or
// fallback when it sent none.
func serverTime(a Result, fallback time.Time) time.Time {
	if t, err := http.ParseTime(a.Header.Get("Date")); err == nil {
		return t
	}
	return fallback
}

// withoutNulls encodes a request body leaving out members that are null:
// a flag not given is a member not sent, never an explicit null.
func withoutNulls(body any) ([]byte, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	var members map[string]json.RawMessage
	if json.Unmarshal(data, &members) != nil || members == nil {
		return data, nil
	}
	for k, v := range members {
		if string(v) == "null" {
			delete(members, k)
		}
	}
	return json.Marshal(members)
}
