package httpapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/fedgate/fedgate/shared/federation"

	"github.com/fedgate/fedgate/shared/routes"
)

type echoBody struct {
	Name  string   `json:"name"`
	Count int      `json:"count"`
	Tags  []string `json:"tags"`
}

func request(body string, claims map[string]string) Request {
	r := Request{Body: body, RequestContext: events.APIGatewayV2HTTPRequestContext{RequestID: "req-1"}}
	if claims != nil {
		r.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims},
		}
	}
	return r
}

func readError(t *testing.T, resp Response) ErrorDetail {
	t.Helper()
	var body ErrorBody
	if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
		t.Fatalf("error body %q: %v", resp.Body, err)
	}
	return body.Error
}

func TestHandle(t *testing.T) {
	var logs bytes.Buffer
	opts := Options{Logger: slog.New(slog.NewJSONHandler(&logs, nil))}
	user := map[string]string{"sub": "u1", "workspace_id": "ws-1", "scope": "openid"}
	admin := map[string]string{"sub": "u1", "workspace_id": "ws-1", "scope": "openid fedgate:admin"}
	instance := map[string]string{"sub": "u1", "workspace_id": "ws-1", "scp": "[fedgate:instance]"}
	lookAlikes := []map[string]string{
		{"sub": "u1", "workspace_id": "ws-1", "roles": "[not admin]"},
		{"sub": "u1", "workspace_id": "ws-1", "roles": "[admin]", "scope": "admin"},
		{"sub": "u1", "workspace_id": "ws-1", "scope": "fedgate:admin-x xfedgate:admin fedgate:Admin"},
		{"sub": "u1", "workspace_id": "ws-1", "scope": "fedgate:admin,fedgate:instance"},
		{"sub": "u1", "workspace_id": "ws-1", "scp": "fedgate:admin"},
	}
	decode := func(ctx context.Context, c *Call) (int, any, error) {
		var b echoBody
		if err := c.Decode(&b); err != nil {
			return 0, nil, err
		}
		return http.StatusCreated, map[string]any{"name": b.Name, "workspace": c.Claims.Workspace}, nil
	}
	tests := []struct {
		name     string
		auth     routes.Auth
		req      Request
		fn       Func
		status   int
		code     string
		contains string
	}{
		{"public route needs no token", routes.Public, request(`{"name":"a"}`, nil), decode, 201, "", ""},
		{"user route without claims", routes.User, request(`{}`, nil), decode, 401, "unauthenticated", "token"},
		{"user route without sub", routes.User, request(`{}`, map[string]string{"workspace_id": "w"}), decode, 401, "unauthenticated", "sub"},
		{"user route without workspace", routes.User, request(`{}`, map[string]string{"sub": "u"}), decode, 403, "forbidden", "workspace_id"},
		{"user route with claims", routes.User, request(`{"name":"a"}`, user), decode, 201, "", ""},
		{"admin route as member", routes.WorkspaceAdmin, request(`{"name":"a"}`, user), decode, 403, "forbidden", "fedgate:admin"},
		{"admin route as admin", routes.WorkspaceAdmin, request(`{"name":"a"}`, admin), decode, 201, "", ""},
		{"instance route as workspace admin", routes.InstanceAdmin, request(`{"name":"a"}`, admin), decode, 403, "forbidden", "fedgate:instance"},
		{"instance route with scp", routes.InstanceAdmin, request(`{"name":"a"}`, instance), decode, 201, "", ""},
		{"admin route with a look-alike 1", routes.WorkspaceAdmin, request(`{}`, lookAlikes[0]), decode, 403, "forbidden", ""},
		{"admin route with a look-alike 2", routes.WorkspaceAdmin, request(`{}`, lookAlikes[1]), decode, 403, "forbidden", ""},
		{"admin route with a look-alike 3", routes.WorkspaceAdmin, request(`{}`, lookAlikes[2]), decode, 403, "forbidden", ""},
		{"admin route with a look-alike 4", routes.WorkspaceAdmin, request(`{}`, lookAlikes[3]), decode, 403, "forbidden", ""},
		{"admin route with a look-alike 5", routes.WorkspaceAdmin, request(`{}`, lookAlikes[4]), decode, 403, "forbidden", ""},
		{"number beyond 2^53", routes.Public, request(`{"count":9007199254740993}`, nil), decode, 400, "validation_failed", "9007199254740993"},
		{"number overflowing a double", routes.Public, request(`{"tags":[],"count":1e400}`, nil), decode, 400, "validation_failed", ""},
		{"malformed JSON", routes.Public, request(`{"name":`, nil), decode, 400, "invalid_json", ""},
		{"empty body", routes.Public, request(``, nil), decode, 400, "invalid_json", "empty"},
		{"trailing data", routes.Public, request(`{"name":"a"} {}`, nil), decode, 400, "invalid_json", "after"},
		{"wrong type names the field", routes.Public, request(`{"count":"x"}`, nil), decode, 400, "validation_failed", "count"},
		{"unknown field named", routes.Public, request(`{"nmae":"x"}`, nil), decode, 400, "validation_failed", "nmae"},
		{"array instead of object", routes.Public, request(`[1]`, nil), decode, 400, "validation_failed", "object"},
		{"body over the limit", routes.Public, request(`{"name":"`+strings.Repeat("x", MaxBody)+`"}`, nil), decode, 413, "payload_too_large", ""},
		{"client error passes through", routes.Public, request(``, nil), func(context.Context, *Call) (int, any, error) {
			return 0, nil, federation.Conflictf("already ACTIVE")
		}, 409, "conflict", "already ACTIVE"},
		{"internal errors are hidden", routes.Public, request(``, nil), func(context.Context, *Call) (int, any, error) {
			return 0, nil, errors.New("dynamodb: secret table detail")
		}, 500, "internal", "internal error"},
		{"panics become 500", routes.Public, request(``, nil), func(context.Context, *Call) (int, any, error) {
			panic("boom")
		}, 500, "internal", "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := Handle(routes.Route{Name: "test", Method: "POST", Path: "/x", Auth: tt.auth}, opts, tt.fn)
			resp, err := h(context.Background(), tt.req)
			if err != nil {
				t.Fatalf("handler returned error %v; errors must become responses", err)
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d (body %s)", resp.StatusCode, tt.status, resp.Body)
			}
			if resp.Headers["Content-Type"] != "application/json" || resp.Headers["X-Request-Id"] != "req-1" {
				t.Errorf("headers %v", resp.Headers)
			}
			if tt.code == "" {
				return
			}
			e := readError(t, resp)
			if e.Code != tt.code || e.RequestID != "req-1" || !strings.Contains(e.Message, tt.contains) {
				t.Errorf("error %+v, want code %s containing %q", e, tt.code, tt.contains)
			}
			if strings.Contains(e.Message, "secret table detail") {
				t.Error("internal detail leaked to the caller")
			}
		})
	}
	if !strings.Contains(logs.String(), `"requestId":"req-1"`) || !strings.Contains(logs.String(), "secret table detail") {
		t.Errorf("logs lack the request id or the internal cause:\n%s", logs.String())
	}
}

func TestHandleBase64BodyAndRetryAfter(t *testing.T) {
	opts := Options{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))}
	h := Handle(routes.Route{Name: "t", Auth: routes.Public}, opts, func(ctx context.Context, c *Call) (int, any, error) {
		if string(c.Body()) != `{"a":1}` {
			return 0, nil, federation.Invalidf("body %q", c.Body())
		}
		return 0, nil, &federation.Error{Code: federation.CodeRateLimited, Message: "slow down", RetryAfter: 7 * time.Second}
	})
	req := request(base64.StdEncoding.EncodeToString([]byte(`{"a":1}`)), nil)
	req.IsBase64Encoded = true
	resp, _ := h(context.Background(), req)
	if resp.StatusCode != 429 || resp.Headers["Retry-After"] != "7" {
		t.Errorf("got %d %v %s", resp.StatusCode, resp.Headers, resp.Body)
	}
}

func TestClaimsScopes(t *testing.T) {
	tests := []struct {
		raw  map[string]string
		want []string
	}{
		{map[string]string{"scope": "a b  c"}, []string{"a", "b", "c"}},
		{map[string]string{"scp": "[a b]"}, []string{"a", "b"}},
		{map[string]string{"scp": `["a","b c"]`}, []string{"a", "b c"}},
		{map[string]string{"scp": "a"}, nil},
		{map[string]string{"roles": "[fedgate:admin]"}, nil},
		{map[string]string{"scope": "x", "scp": FormatList([]string{"y"})}, []string{"x", "y"}},
	}
	for _, tt := range tests {
		got := claimsFrom(tt.raw, "workspace_id").Scopes
		if strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("claims %v: scopes %q, want %q", tt.raw, got, tt.want)
		}
	}
	c := claimsFrom(map[string]string{"sub": "u", "tenant": "w9", "scope": "fedgate:admin"}, "tenant")
	if c.Workspace != "w9" || !c.HasScope("fedgate:admin") || c.HasScope("fedgate") || c.HasScope("admin") {
		t.Errorf("claims %+v", c)
	}
}
