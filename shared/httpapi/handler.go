package httpapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/ids"
	"github.com/fedgate/fedgate/shared/routes"
	"github.com/fedgate/fedgate/shared/trace"
)

// MaxBody is the largest body any route accepts: an envelope must fit an SQS
// message (256 KiB) with headroom (PROTOCOL.md §1).
const MaxBody = 200 * 1024

// Request and Response are API Gateway HTTP API (payload v2) events.
type (
	Request  = events.APIGatewayV2HTTPRequest
	Response = events.APIGatewayV2HTTPResponse
)

// LambdaHandler is what lambda.Start and the local runner call.
type LambdaHandler func(ctx context.Context, req Request) (Response, error)

// Func handles one call and returns the status and body of a success, or an
// error (a *federation.Error for what the caller is told; anything else is a
// 500 whose cause only the logs see).
type Func func(ctx context.Context, c *Call) (status int, body any, err error)

// Options configures the plumbing shared by all HTTP functions.
type Options struct {
	WorkspaceClaim string // JWT claim holding the caller's workspace id
	Logger         *slog.Logger
	// Limiter limits user calls per workspace (nil: no limit): beyond it
	// the answer is 429 rate_limited with Retry-After, before any work.
	Limiter Limiter
}

// Limiter limits calls per key (shared/ratelimit).
type Limiter interface {
	Allow(ctx context.Context, key string) (ok bool, wait time.Duration)
}

// Call is one request being handled.
type Call struct {
	Req       *Request
	RequestID string
	Log       *slog.Logger
	// Claims of the caller; zero on public and signed routes.
	Claims Claims
	body   []byte
}

// Body returns the raw request body (base64-decoded if needed).
func (c *Call) Body() []byte { return c.body }

// Param returns a path parameter.
func (c *Call) Param(name string) string { return c.Req.PathParameters[name] }

// Query returns a query string parameter.
func (c *Call) Query(name string) string { return c.Req.QueryStringParameters[name] }

// Decode reads the JSON body into v strictly: malformed JSON is invalid_json;
// unknown fields, wrong types and numbers that cannot be signed faithfully
// (I-JSON) are validation_failed, naming the field or number.
func (c *Call) Decode(v any) error {
	if len(bytes.TrimSpace(c.body)) == 0 {
		return invalidJSON("body is empty; a JSON object is required")
	}
	dec := json.NewDecoder(bytes.NewReader(c.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return invalidJSON("body has data after the JSON value")
	}
	return federation.CheckNumbers(c.body)
}

func decodeError(err error) *federation.Error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return invalidJSON("body is not valid JSON: %v", err)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return federation.Invalidf("body must be a JSON object")
		}
		return federation.Invalidf("%s must be %s, not %s", field, jsonKind(typ.Type.Kind().String()), typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return federation.Invalidf("%s is not a known field", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return invalidJSON("body is not valid JSON: %v", err)
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "slice", "array":
		return "an array"
	case "map", "struct", "ptr":
		return "an object"
	case "bool":
		return "a boolean"
	}
	return "a number"
}

// Handle wraps fn with the plumbing for route: auth, body limit, request id,
// JSON responses, error bodies, panic recovery and one log line per request.
func Handle(route routes.Route, opts Options, fn Func) LambdaHandler {
	if opts.WorkspaceClaim == "" {
		opts.WorkspaceClaim = "workspace_id"
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return func(ctx context.Context, req Request) (resp Response, err error) {
		start := time.Now()
		requestID := req.RequestContext.RequestID
		if requestID == "" {
			requestID = ids.New()
		}
		c := &Call{Req: &req, RequestID: requestID, Log: opts.Logger.With("requestId", requestID, "function", route.Name)}
		// A user call continues its caller's trace or starts one. A peer's
		// envelope starts one of this instance's own: the peer's traceparent
		// is adopted, as the remote parent, only once the envelope verified
		// (PROTOCOL.md §9), so a stranger cannot write into our traces.
		if route.Auth == routes.Signed {
			ctx = WithSource(trace.With(ctx, trace.New()), req.RequestContext.HTTP.SourceIP)
		} else {
			ctx = trace.Continue(ctx, req.Headers["traceparent"])
		}
		ctx = trace.Labeled(ctx, slog.String("function", route.Name), slog.String("requestId", requestID))
		status, body, ferr := func() (status int, body any, err error) {
			defer func() {
				if p := recover(); p != nil {
					err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
				}
			}()
			if err := prepare(c, route, opts); err != nil {
				return 0, nil, err
			}
			if err := limit(ctx, c, opts.Limiter); err != nil {
				return 0, nil, err
			}
			return fn(ctx, c)
		}()
		if ferr != nil {
			resp = errorResponse(ctx, c, ferr)
		} else {
			resp = jsonResponse(status, body, requestID)
		}
		resp.Headers["X-Trace-Id"] = trace.From(ctx).ID()
		c.Log.InfoContext(ctx, "request",
			"method", req.RequestContext.HTTP.Method, "path", req.RawPath,
			"status", resp.StatusCode, "durationMs", time.Since(start).Milliseconds())
		return resp, nil
	}
}

// prepare authenticates the caller and reads the body.
func prepare(c *Call, route routes.Route, opts Options) error {
	if route.NeedsToken() {
		var raw map[string]string
		if a := c.Req.RequestContext.Authorizer; a != nil && a.JWT != nil {
			raw = a.JWT.Claims
		}
		if raw == nil {
			return Unauthenticated("a valid bearer token is required")
		}
		c.Claims = claimsFrom(raw, opts.WorkspaceClaim)
		if c.Claims.Subject == "" {
			return Unauthenticated("the token has no sub claim")
		}
		if c.Claims.Workspace == "" {
			return federation.Forbiddenf("the token has no %s claim", opts.WorkspaceClaim)
		}
		// API Gateway's authorizer checks the route's scope too; this check
		// keeps a misconfigured stage from opening administration.
		if scopes := route.Scopes(); len(scopes) > 0 && !slices.ContainsFunc(scopes, c.Claims.HasScope) {
			return federation.Forbiddenf("this operation needs the %s scope", strings.Join(scopes, " or "))
		}
		c.Log = c.Log.With("workspaceId", c.Claims.Workspace)
	}
	body := []byte(c.Req.Body)
	if c.Req.IsBase64Encoded {
		decoded, err := base64.StdEncoding.DecodeString(c.Req.Body)
		if err != nil {
			return invalidJSON("body is not valid base64")
		}
		body = decoded
	}
	if len(body) > MaxBody {
		return PayloadTooLarge(MaxBody)
	}
	c.body = body
	return nil
}

// limit applies the workspace's limit to a user call.
func limit(ctx context.Context, c *Call, l Limiter) error {
	if l == nil || c.Claims.Workspace == "" {
		return nil
	}
	if ok, wait := l.Allow(ctx, c.Claims.Workspace); !ok {
		return &federation.Error{Code: federation.CodeRateLimited, RetryAfter: wait,
			Message: fmt.Sprintf("workspace %s makes more calls than its limit; retry after %s", c.Claims.Workspace, wait)}
	}
	return nil
}

func errorResponse(ctx context.Context, c *Call, err error) Response {
	e, ok := federation.AsError(err)
	switch {
	case !ok:
		// Log the cause for operators; the caller learns nothing of it.
		c.Log.ErrorContext(ctx, "internal error", "error", err.Error())
		e = internalError
	case Status(e.Code) >= 500:
		c.Log.WarnContext(ctx, "request failed", "code", e.Code, "error", e.Message)
	}
	return ErrorResponse(e, c.RequestID)
}

func jsonResponse(status int, body any, requestID string) Response {
	headers := map[string]string{"Content-Type": "application/json", "X-Request-Id": requestID}
	if status == http.StatusNoContent || body == nil {
		return Response{StatusCode: status, Headers: headers}
	}
	data, err := json.Marshal(body)
	if err != nil {
		data = []byte(`{"error":{"code":"internal","message":"internal error","requestId":"` + requestID + `"}}`)
		status = http.StatusInternalServerError
	}
	return Response{StatusCode: status, Headers: headers, Body: string(data)}
}

// NotFoundResponse is the answer for a path no route matches (used by the
// local runner; API Gateway answers it itself in AWS).
func NotFoundResponse(requestID string) Response {
	return ErrorResponse(federation.NotFoundf("no route for this method and path"), requestID)
}

// ErrorResponse renders e in the PROTOCOL.md §1 shape (also used by the
// local runner's stand-in for API Gateway's authorizer).
func ErrorResponse(e *federation.Error, requestID string) Response {
	resp := jsonResponse(Status(e.Code), ErrorBody{Error: ErrorDetail{Code: string(e.Code), Message: e.Message, RequestID: requestID}}, requestID)
	if e.RetryAfter > 0 {
		resp.Headers["Retry-After"] = strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds())))
	}
	return resp
}

type sourceKey struct{}

// WithSource records the address a signed envelope came from (API Gateway's
// sourceIp, never a header a sender writes).
func WithSource(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, sourceKey{}, ip)
}

// Source is the address a signed envelope came from ("" outside a request).
func Source(ctx context.Context) string {
	ip, _ := ctx.Value(sourceKey{}).(string)
	return ip
}
