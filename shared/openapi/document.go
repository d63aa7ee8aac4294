package openapi

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"

	samples "github.com/fedgate/fedgate/events"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/httpapi"
	"github.com/fedgate/fedgate/shared/identity"
	"github.com/fedgate/fedgate/shared/routes"
)

// Version is the OpenAPI version of the document.
const Version = "3.1.0"

// Options choose what differs between documents: the server they describe.
type Options struct {
	// ServerURL is the instance's base URL (scheme and authority, as its
	// GET /instance says); "" describes any instance with a server variable.
	ServerURL string
}

// Build returns the document as indented JSON.
func Build(opts Options) ([]byte, error) {
	doc, err := Document(opts)
	if err != nil {
		return nil, err
	}
	return json.MarshalIndent(doc, "", "  ")
}

// Security scheme names.
const (
	SchemeJWT    = "bearerJwt"
	SchemeSigned = "signedEnvelope"
)

// errorCodes are PROTOCOL.md §1's codes (a test compares them with the
// constants of shared/federation).
var errorCodes = []federation.Code{
	federation.CodeInvalidJSON, federation.CodeValidation, federation.CodeUnauthenticated,
	federation.CodeInvalidSignature, federation.CodeStaleTimestamp, federation.CodeUnknownKey, federation.CodeWrongRecipient,
	federation.CodeForbidden, federation.CodeNotActive, federation.CodeConnectionEnded, federation.CodeCommandNotAllowed, federation.CodeQueryNotAllowed,
	federation.CodeLimitExceeded, federation.CodeNotFound, federation.CodeConflict, federation.CodePayloadTooLarge,
	federation.CodeRateLimited, federation.CodeRemoteUnreachable, federation.CodeRemoteTimeout, federation.CodeRemoteRejected,
	federation.CodeInternal,
}

func codeNames() []string {
	out := make([]string, len(errorCodes))
	for i, c := range errorCodes {
		out[i] = string(c)
	}
	return out
}

// envelopeBodies are the type-specific members of each envelope type (§4–§8).
var envelopeBodies = []struct {
	Type string
	Body reflect.Type
}{
	{federation.EnvConnect, typeOf[federation.ConnectBody]()},
	{federation.EnvConnectResponse, typeOf[federation.ConnectResponseBody]()},
	{federation.EnvDisconnect, typeOf[federation.DisconnectBody]()},
	{federation.EnvQuery, typeOf[federation.QueryBody]()},
	{federation.EnvQueryResponse, typeOf[federation.ResponseBody]()},
	{federation.EnvCommand, typeOf[federation.CommandBody]()},
	{federation.EnvCommandResponse, typeOf[federation.ResponseBody]()},
	{federation.EnvEvent, typeOf[federation.EventBody]()},
	{federation.EnvEventAck, typeOf[federation.EventAckBody]()},
}

// EnvelopeTypes lists the envelope types the document describes, each a
// component schema of that name.
func EnvelopeTypes() []string {
	out := make([]string, len(envelopeBodies))
	for i, e := range envelopeBodies {
		out[i] = e.Type
	}
	return out
}

// Document builds the OpenAPI document: one operation per HTTP route of
// routes.All, described by its entry in Operations.
func Document(opts Options) (Schema, error) {
	doc, err := documentWith(newRegistry(Refinements))
	if err != nil {
		return nil, err
	}
	server := Schema{"url": "https://{host}" + routes.BasePath, "description": "any fedgate instance",
		"variables": Schema{"host": Schema{"default": "fed.example.org", "description": "the instance's host (and port)"}}}
	if opts.ServerURL != "" {
		server = Schema{"url": strings.TrimRight(opts.ServerURL, "/") + routes.BasePath, "description": "this instance"}
	}
	doc["servers"] = []any{server}
	return doc, nil
}

func documentWith(reg *registry) (Schema, error) {
	paths := Schema{}
	for _, r := range routes.All {
		if !r.IsHTTP() || r.IsDefault() { // $default answers only 404: no operation
			continue
		}
		op, ok := Operations[r.Method+" "+r.Path]
		if !ok {
			return nil, fmt.Errorf("openapi: route %s (%s %s) has no entry in openapi.Operations", r.Name, r.Method, r.Path)
		}
		o, err := operation(reg, r, op)
		if err != nil {
			return nil, err
		}
		item, _ := paths[r.Path].(Schema)
		if item == nil {
			item = Schema{}
			paths[r.Path] = item
		}
		item[strings.ToLower(r.Method)] = o
	}
	errRef := reg.of(typeOf[httpapi.ErrorBody](), answer)
	reg.schemas["Envelope"] = envelopeHeader(reg)
	for _, e := range envelopeBodies {
		reg.schemas[e.Type] = envelopeSchema(reg, e.Type, e.Body)
	}
	return Schema{
		"openapi": Version,
		"info": Schema{
			"title":   "fedgate federation API",
			"version": identity.ProtocolVersion,
			"summary": "The HTTP contract of a fedgate instance: the user API and the endpoints peers send signed envelopes to.",
			"description": "Federation protocol version " + identity.ProtocolVersion + " (PROTOCOL.md). " +
				"Every error answer has the PROTOCOL error body (ErrorBody). User routes need a JWT bearer token " +
				"(claims sub, workspace_id, scope); administration routes need the OAuth scope named in their security " +
				"requirement. /incoming/* routes carry no token: the body is a signed envelope (see the envelope schemas). " +
				"Generated from fedgate's route table and Go types; examples come from its sample API Gateway events.",
		},
		"tags":     Tags,
		"paths":    paths,
		"security": []any{},
		"components": Schema{
			"schemas": reg.schemas,
			"responses": Schema{"Error": Schema{
				"description": "a PROTOCOL error (PROTOCOL.md §1)",
				"content":     jsonContent(errRef, nil),
			}},
			"securitySchemes": Schema{
				SchemeJWT: Schema{"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
					"description": "A JWT from the deployment's issuer with claims sub, workspace_id (configurable) and scope " +
						"(space-separated; or scp as an array). Two OAuth scopes grant administration, matched exactly: " +
						routes.ScopeAdmin + " (the caller's workspace: invites) and " + routes.ScopeInstance +
						" (the whole instance: PATCH /instance, key rotation). An operation's requirement names the scope it needs."},
				// OpenAPI has no scheme for a signed body; /incoming/* operations
				// name this one in x-fedgate-authentication, not in security.
				SchemeSigned: Schema{"type": "http", "scheme": "signed-envelope",
					"description": "Used by /incoming/* (x-fedgate-authentication), never as a header: " +
						"the JSON body is an envelope signed by the sending instance " +
						"(RS256 or EdDSA over its RFC 8785 canonical form without signature; keyId names the key " +
						"published in the sender's GET /instance). Verified in PROTOCOL.md §3's order: fields, timestamp " +
						"(±5 min), toInstanceId, connection, signature, duplicate (answered exactly as the first time)."},
			},
		},
	}, nil
}

func jsonContent(schema Schema, examples Schema) Schema {
	media := Schema{"schema": schema}
	if len(examples) > 0 {
		media["examples"] = examples
	}
	return Schema{"application/json": media}
}

// operation describes one route.
func operation(reg *registry, r routes.Route, op Operation) (Schema, error) {
	if len(op.Answers) == 0 {
		return nil, fmt.Errorf("openapi: %s %s has no answer", r.Method, r.Path)
	}
	sample := loadSample(r.Name)
	o := Schema{"operationId": r.Name, "summary": op.Summary, "tags": []string{op.Tag}, "security": security(r)}
	if r.Auth == routes.Signed {
		o["x-fedgate-authentication"] = SchemeSigned
	}
	if params := parameters(r, op, sample); len(params) > 0 {
		o["parameters"] = params
	}
	body, err := requestBody(reg, r, op, sample)
	if err != nil {
		return nil, err
	}
	if body != nil {
		o["requestBody"] = body
	}
	if o["responses"], err = responses(reg, r, op); err != nil {
		return nil, err
	}
	return o, nil
}

// security is the route's security requirement.
func security(r routes.Route) []any {
	switch {
	case r.Auth == routes.Signed:
		// No header credential, so no security requirement (tools would ask
		// for an Authorization header): the body authenticates, as the
		// signedEnvelope scheme describes (x-fedgate-authentication).
		return []any{}
	case r.NeedsToken():
		// Alternatives: a token with any one of the route's scopes.
		scopes := r.Scopes()
		if len(scopes) == 0 {
			return []any{Schema{SchemeJWT: []string{}}}
		}
		var out []any
		for _, s := range scopes {
			out = append(out, Schema{SchemeJWT: []string{s}})
		}
		return out
	}
	return []any{}
}

// parameters are the route's path and query parameters, with the sample
// event's values as examples.
func parameters(r routes.Route, op Operation, sample sampleEvent) []any {
	var params []any
	for _, seg := range strings.Split(r.Path, "/") {
		if name, ok := strings.CutPrefix(seg, "{"); ok {
			name = strings.TrimSuffix(name, "}")
			p := Schema{"name": name, "in": "path", "required": true, "schema": Schema{"type": "string"}}
			if v, ok := sample.PathParameters[name]; ok {
				p["example"] = v
			}
			params = append(params, p)
		}
	}
	for _, q := range op.Query {
		p := Schema{"name": q.Name, "in": "query", "required": q.Required, "schema": q.Schema}
		if q.Description != "" {
			p["description"] = q.Description
		}
		if v, ok := sample.QueryStringParameters[q.Name]; ok {
			p["example"] = v
		}
		params = append(params, p)
	}
	return params
}

// requestBody is the route's body (nil for none), the sample's as example.
func requestBody(reg *registry, r routes.Route, op Operation, sample sampleEvent) (Schema, error) {
	var examples Schema
	if body := strings.TrimSpace(sample.Body); body != "" {
		var v any
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			return nil, fmt.Errorf("openapi: sample body of %s is not JSON: %w", r.Name, err)
		}
		examples = Schema{"sample": Schema{"summary": "events/" + r.Name + ".json", "value": v}}
	}
	switch {
	case op.Envelope != "":
		return Schema{"required": true, "description": "a signed " + op.Envelope + " envelope",
			"content": jsonContent(Schema{"$ref": "#/components/schemas/" + op.Envelope}, examples)}, nil
	case op.Body != nil:
		schema := reg.of(op.Body, request)
		if len(op.Required) > 0 {
			schema = merge(schema, Schema{"required": op.Required})
		}
		return Schema{"required": !op.BodyOptional, "content": jsonContent(schema, examples)}, nil
	}
	return nil, nil
}

// responses are the route's answers: its successes, the error codes worth
// naming by status, and the error shape for everything else.
func responses(reg *registry, r routes.Route, op Operation) (Schema, error) {
	out := Schema{}
	for _, a := range op.Answers {
		var schema Schema
		switch {
		case a.Envelope != "":
			schema = Schema{"$ref": "#/components/schemas/" + a.Envelope}
		case a.Type != nil:
			schema = reg.of(a.Type, answer)
		case a.Schema != nil:
			schema = a.Schema
		default:
			return nil, fmt.Errorf("openapi: %s %s: the %d answer has no schema", r.Method, r.Path, a.Status)
		}
		out[strconv.Itoa(a.Status)] = Schema{"description": a.Description, "content": jsonContent(schema, nil)}
	}
	byStatus := map[int][]string{}
	for _, c := range errorsOf(r, op) {
		s := httpapi.Status(c)
		if !slices.Contains(byStatus[s], string(c)) {
			byStatus[s] = append(byStatus[s], string(c))
		}
	}
	for s, codes := range byStatus {
		slices.Sort(codes)
		out[strconv.Itoa(s)] = Schema{
			"description": http.StatusText(s) + ": " + strings.Join(codes, ", "),
			"content":     jsonContent(Schema{"$ref": "#/components/schemas/ErrorBody"}, nil),
		}
	}
	out["default"] = Schema{"$ref": "#/components/responses/Error"}
	return out, nil
}

// errorsOf lists the codes a route may answer: those of its kind and its own.
func errorsOf(r routes.Route, op Operation) []federation.Code {
	codes := []federation.Code{federation.CodeRateLimited, federation.CodeInternal}
	if op.Body != nil || op.Envelope != "" {
		codes = append(codes, federation.CodeInvalidJSON, federation.CodeValidation, federation.CodePayloadTooLarge)
	}
	if len(op.Query) > 0 {
		codes = append(codes, federation.CodeValidation)
	}
	switch {
	case r.NeedsToken():
		codes = append(codes, federation.CodeUnauthenticated, federation.CodeForbidden)
	case r.Auth == routes.Signed:
		codes = append(codes, federation.CodeInvalidSignature, federation.CodeStaleTimestamp, federation.CodeUnknownKey,
			federation.CodeWrongRecipient, federation.CodeNotActive, federation.CodeConnectionEnded, federation.CodeConflict, federation.CodeRateLimited)
	}
	return append(codes, op.Errors...)
}

// envelopeHeader is the members every envelope has (PROTOCOL.md §4).
func envelopeHeader(reg *registry) Schema {
	s := reg.object(typeOf[federation.Envelope](), answer, "Envelope")
	props := s["properties"].(Schema)
	props["type"] = merge(props["type"].(Schema), Schema{"enum": EnvelopeTypes()})
	props["timestamp"] = merge(props["timestamp"].(Schema), Schema{"description": "Unix milliseconds; within 5 minutes of the receiver's clock"})
	props["keyId"] = merge(props["keyId"].(Schema), Schema{"description": "the signing key, as published in the sender's GET /instance"})
	props["signature"] = merge(props["signature"].(Schema), Schema{"description": "standard base64 of the signature over the RFC 8785 form of the envelope without signature"})
	props["toInstanceId"] = merge(props["toInstanceId"].(Schema), Schema{"description": "the recipient's instanceId, as read from its GET /instance"})
	props["traceparent"] = Schema{"type": "string", "description": "W3C Trace Context (optional, signed like every member)"}
	s["required"] = []string{"connectionId", "instanceId", "messageId", "signature", "timestamp", "toInstanceId", "type"}
	// Envelopes may carry members a later revision adds: they are signed too.
	delete(s, "additionalProperties")
	return s
}

// envelopeSchema is one envelope type: the header and its own members.
func envelopeSchema(reg *registry, envType string, body reflect.Type) Schema {
	head := envelopeHeader(reg)
	own := reg.object(body, answer, envType)
	props := merge(head["properties"].(Schema), own["properties"].(Schema))
	props["type"] = Schema{"type": "string", "const": envType}
	required := slices.Clone(head["required"].([]string))
	if r, ok := own["required"].([]string); ok {
		required = append(required, r...)
	}
	slices.Sort(required)
	return Schema{"type": "object", "description": "a signed " + envType + " envelope (PROTOCOL.md §4–§8)",
		"properties": props, "required": slices.Compact(required)}
}

// sampleEvent is what the document takes from events/<name>.json.
type sampleEvent struct {
	Body                  string            `json:"body"`
	QueryStringParameters map[string]string `json:"queryStringParameters"`
	PathParameters        map[string]string `json:"pathParameters"`
}

func loadSample(name string) sampleEvent {
	var ev sampleEvent
	data, err := fs.ReadFile(samples.Samples, name+".json")
	if err == nil {
		_ = json.Unmarshal(data, &ev)
	}
	return ev
}
