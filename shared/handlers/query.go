package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/fedgate/fedgate/shared/api"
	"github.com/fedgate/fedgate/shared/app"
	"github.com/fedgate/fedgate/shared/backend"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/ids"
	"github.com/fedgate/fedgate/shared/incoming"
	"github.com/fedgate/fedgate/shared/store"
)

func queryNotAllowed() error {
	return api.Errorf(http.StatusForbidden, "query_not_allowed", "queries about credentials are never federated")
}

type queryRequest struct {
	ConnectionID string          `json:"connectionId"`
	Query        string          `json:"query"`
	Context      json.RawMessage `json:"context"`
}

// QuerySend serves POST /query: a synchronous round trip to the peer whose
// signed QUERY_RESPONSE is verified before it is stored and returned.
func QuerySend(a *app.App) api.LambdaHandler {
	return handle(a, "query-send", func(ctx context.Context, c *api.Call) (int, any, error) {
		var req queryRequest
		if err := c.Decode(&req); err != nil {
			return 0, nil, err
		}
		var v api.Validator
		v.Required("connectionId", req.ConnectionID)
		v.Required("query", req.Query)
		v.Check(len(req.Query) <= maxQueryLen, "query", "must be at most 10000 characters")
		rawObject(&v, "context", req.Context)
		if err := v.Err(); err != nil {
			return 0, nil, err
		}
		if !federation.QueryAllowed(req.Query) {
			return 0, nil, queryNotAllowed()
		}
		conn, err := activeConnection(ctx, a, c.Claims.Workspace, req.ConnectionID)
		if err != nil {
			return 0, nil, err
		}
		now := a.Now().UTC()
		body := federation.QueryBody{Query: req.Query, Context: req.Context}
		raw, _ := json.Marshal(body)
		rec := a.Messages.NewRecord(federation.Message{
			ID: ids.New(), WorkspaceID: conn.WorkspaceID, ConnectionID: conn.ID, MessageType: federation.TypeQuery,
			Direction: federation.Outbound, Status: federation.MsgPending, Query: req.Query, Context: req.Context,
			Attempts: 1, CreatedAt: now, UpdatedAt: now,
		}, federation.EnvQuery, raw, "")
		if err := a.Messages.Create(ctx, rec); err != nil {
			return 0, nil, err
		}
		fail := func(reason string, answer error) (int, any, error) {
			if _, err := a.Messages.Update(ctx, rec.WorkspaceID, rec.ID, store.MessageUpdate{Status: federation.MsgFailed, Error: &reason}); err != nil {
				c.Log.Warn("could not record the failed query", "messageId", rec.ID, "error", err.Error())
			}
			return 0, nil, answer
		}
		envelope, err := a.Signer.Sign(ctx, rec.ID, federation.EnvQuery, conn.ID, body)
		if err != nil {
			return 0, nil, err
		}
		reply, err := a.Peers.Post(ctx, conn.RemoteURL, "/incoming/query", envelope)
		if err != nil {
			return fail(err.Error(), peerError(err))
		}
		if reply.Status != http.StatusOK {
			return fail(reply.Describe(), remoteRejected(reply))
		}
		resp, err := verifyResponse(conn, rec.ID, federation.EnvQueryResponse, reply.Body)
		if err != nil {
			return fail("invalid QUERY_RESPONSE: "+err.Error(), api.Errorf(http.StatusBadGateway, "remote_rejected", "invalid QUERY_RESPONSE: %v", err))
		}
		done := a.Now().UTC()
		updated, err := a.Messages.Update(ctx, rec.WorkspaceID, rec.ID, store.MessageUpdate{
			Status: federation.MsgCompleted, Response: resp, DeliveredAt: &done, CompletedAt: &done,
		})
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, updated.Message, nil
	})
}

// responseEnvelope is a QUERY_RESPONSE or COMMAND_RESPONSE on the wire.
type responseEnvelope struct {
	federation.Envelope
	federation.ResponseBody
}

// verifyResponse checks a signed QUERY_RESPONSE/COMMAND_RESPONSE body that
// came back synchronously.
func verifyResponse(conn *federation.Connection, correlationID, envType string, body []byte) (*federation.Response, error) {
	var r responseEnvelope
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, err
	}
	if r.Type != envType || r.CorrelationID != correlationID || r.ConnectionID != conn.ID || r.InstanceID != conn.RemoteInstanceID {
		return nil, errors.New("it answers another message")
	}
	k, ok := conn.RemoteKey(r.KeyID)
	if !ok {
		return nil, fmt.Errorf("unknown key %s", r.KeyID)
	}
	if err := incoming.VerifyWith(k, body); err != nil {
		return nil, err
	}
	return &federation.Response{Success: r.Success, Data: r.Data, Error: r.Error}, nil
}

type queryEnvelope struct {
	federation.Envelope
	federation.QueryBody
}

// IncomingQuery serves POST /incoming/query: answer from the built-ins or the
// query backend with a signed QUERY_RESPONSE; credential queries are refused.
func IncomingQuery(a *app.App) api.LambdaHandler {
	return handle(a, "incoming-query", func(ctx context.Context, c *api.Call) (int, any, error) {
		in, msg, err := verified[queryEnvelope](ctx, a, c, federation.EnvQuery)
		if err != nil {
			return 0, nil, err
		}
		var v api.Validator
		v.Required("query", msg.Query)
		v.Check(len(msg.Query) <= maxQueryLen, "query", "must be at most 10000 characters")
		rawObject(&v, "context", msg.Context)
		if err := v.Err(); err != nil {
			return 0, nil, err
		}
		return incoming.Respond(in, func() (store.Answer, error) {
			if !federation.QueryAllowed(msg.Query) {
				return store.Answer{}, queryNotAllowed()
			}
			conn := in.Conn
			resp, err := a.Queries.Handle(ctx, msg.Query, backend.Request{
				WorkspaceID: conn.WorkspaceID, ConnectionID: conn.ID, RemoteInstanceID: conn.RemoteInstanceID,
				MessageID: in.MessageID, Query: msg.Query, Context: msg.Context,
			})
			if err != nil {
				c.Log.Warn("query backend failed", "messageId", in.MessageID, "error", err.Error())
				resp = backend.Failure("the query could not be answered now")
			}
			signed, err := a.Signer.Sign(ctx, ids.Derived(conn.ID, in.MessageID, federation.EnvQueryResponse), federation.EnvQueryResponse, conn.ID,
				federation.ResponseBody{CorrelationID: in.MessageID, Success: resp.Success, Data: resp.Data, Error: resp.Error})
			if err != nil {
				return store.Answer{}, err
			}
			now := a.Now().UTC()
			rec := a.Messages.NewRecord(federation.Message{
				ID: in.MessageID, WorkspaceID: conn.WorkspaceID, ConnectionID: conn.ID, MessageType: federation.TypeQuery,
				Direction: federation.Inbound, Status: federation.MsgCompleted, Query: msg.Query, Context: msg.Context,
				Response: &resp, Attempts: 1, CreatedAt: now, UpdatedAt: now, DeliveredAt: &now, CompletedAt: &now,
			}, "", nil, "")
			answer := store.Answer{Status: http.StatusOK, Body: string(signed)}
			return answer, a.Messages.CreateIncoming(ctx, conn.WorkspaceID, conn.ID, in.MessageID, rec, answer)
		})
	})
}

// QueriesList serves GET /queries.
func QueriesList(a *app.App) api.LambdaHandler {
	return listMessages(a, "queries-list", federation.TypeQuery)
}

// QueriesGet serves GET /queries/{id}.
func QueriesGet(a *app.App) api.LambdaHandler {
	return getMessage(a, "queries-get", federation.TypeQuery)
}
