package local

import (
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/fedgate/fedgate/infra/local/devjwt"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/httpapi"
	"github.com/fedgate/fedgate/shared/ids"
	"github.com/fedgate/fedgate/shared/routes"
)

// gatewayMaxBody is API Gateway's own payload limit; the functions enforce
// the much smaller protocol limit themselves.
const gatewayMaxBody = 10 << 20

// Gateway turns HTTP requests into API Gateway v2 events for the handlers.
type Gateway struct {
	handlers map[string]httpapi.LambdaHandler // by route name
	auth     *devjwt.Authority
	log      *slog.Logger
	slow     atomic.Int64 // answer /incoming/* only after this long (Instance.Slow)
}

// ServeHTTP matches the route, authorizes user routes, invokes the handler
// and writes its response.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	requestID := ids.New()
	route, params, ok := routes.Match(r.Method, r.URL.Path)
	if !ok {
		// API Gateway hands it to the $default route's function.
		route = routes.Default()
	}
	if d := time.Duration(g.slow.Load()); d > 0 && route.Auth == routes.Signed {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
	}
	handler, ok := g.handlers[route.Name]
	if !ok {
		writeResponse(w, httpapi.NotFoundResponse(requestID))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, gatewayMaxBody+1))
	if err != nil {
		writeResponse(w, httpapi.ErrorResponse(federation.Errorf(federation.CodeInvalidJSON, "could not read body"), requestID))
		return
	}
	if len(body) > gatewayMaxBody {
		writeResponse(w, httpapi.ErrorResponse(httpapi.PayloadTooLarge(gatewayMaxBody), requestID))
		return
	}
	var claims map[string]string
	if route.NeedsToken() {
		// API Gateway's JWT authorizer rejects the call before any function runs.
		claims, err = g.auth.Validate(r.Header.Get("Authorization"))
		if err != nil {
			writeResponse(w, httpapi.ErrorResponse(httpapi.Unauthenticated("%v", err), requestID))
			return
		}
		// … and so do the route's authorization scopes.
		if scopes := route.Scopes(); len(scopes) > 0 && !slices.ContainsFunc(scopes, httpapi.ClaimsFrom(claims, "").HasScope) {
			writeResponse(w, httpapi.ErrorResponse(federation.Forbiddenf("the token lacks the %s scope", strings.Join(scopes, " or ")), requestID))
			return
		}
	}
	event := toEvent(r, route, params, body, claims, requestID)
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second) // API Gateway's integration timeout
	defer cancel()
	resp, err := handler(ctx, event)
	if err != nil {
		// A Lambda error reaches the caller as API Gateway's 500.
		g.log.Error("handler returned an error", "function", route.Name, "error", err.Error())
		writeResponse(w, httpapi.ErrorResponse(federation.Errorf(federation.CodeInternal, "internal error"), requestID))
		return
	}
	writeResponse(w, resp)
}

func toEvent(r *http.Request, route routes.Route, params map[string]string, body []byte, claims map[string]string, requestID string) events.APIGatewayV2HTTPRequest {
	headers := map[string]string{}
	for k, v := range r.Header {
		headers[strings.ToLower(k)] = strings.Join(v, ",")
	}
	var query map[string]string
	for k, v := range r.URL.Query() {
		if query == nil {
			query = map[string]string{}
		}
		query[k] = strings.Join(v, ",")
	}
	if len(params) == 0 {
		params = nil
	}
	now := time.Now()
	ev := events.APIGatewayV2HTTPRequest{
		Version:               "2.0",
		RouteKey:              route.RouteKey(),
		RawPath:               r.URL.Path,
		RawQueryString:        r.URL.RawQuery,
		Headers:               headers,
		QueryStringParameters: query,
		PathParameters:        params,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:   route.RouteKey(),
			AccountID:  "000000000000",
			Stage:      "$default",
			RequestID:  requestID,
			APIID:      "local",
			DomainName: r.Host,
			Time:       now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:  now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method:    r.Method,
				Path:      r.URL.Path,
				Protocol:  r.Proto,
				SourceIP:  strings.Split(r.RemoteAddr, ":")[0],
				UserAgent: r.UserAgent(),
			},
		},
	}
	if claims != nil {
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims, Scopes: nil},
		}
	}
	if utf8.Valid(body) {
		ev.Body = string(body)
	} else {
		ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
	}
	return ev
}

func writeResponse(w http.ResponseWriter, resp events.APIGatewayV2HTTPResponse) {
	for k, v := range resp.Headers {
		w.Header().Set(k, v)
	}
	for k, vs := range resp.MultiValueHeaders {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		decoded, err := base64.StdEncoding.DecodeString(resp.Body)
		if err == nil {
			body = decoded
		}
	}
	status := resp.StatusCode
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
