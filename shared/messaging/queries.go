package messaging

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/ids"
	"github.com/fedgate/fedgate/shared/incoming"
	"github.com/fedgate/fedgate/shared/peer"
	"github.com/fedgate/fedgate/shared/platform"
	"github.com/fedgate/fedgate/shared/store"
)

// MaxQueryLen bounds a query's text.
const MaxQueryLen = 10000

// QueryInput is a user's query to a peer.
type QueryInput struct {
	ConnectionID string          `json:"connectionId"`
	Query        string          `json:"query"`
	Context      json.RawMessage `json:"context"`
}

func checkQuery(v *federation.Checks, query string, qctx json.RawMessage) {
	v.Required("query", query)
	v.Check(len(query) <= MaxQueryLen, "query", "must be at most 10000 characters")
	v.Object("context", qctx)
}

func queryNotAllowed() error {
	return federation.Errorf(federation.CodeQueryNotAllowed, "queries about credentials are never federated")
}

// Query sends a QUERY and waits for the peer's signed QUERY_RESPONSE, which
// is verified before it is stored and returned.
func (s *Service) Query(ctx context.Context, ws string, in QueryInput) (*federation.Message, error) {
	var v federation.Checks
	v.Required("connectionId", in.ConnectionID)
	checkQuery(&v, in.Query, in.Context)
	if err := v.Err(); err != nil {
		return nil, err
	}
	if !federation.QueryAllowed(in.Query, in.Context) {
		return nil, queryNotAllowed()
	}
	conn, err := s.connections.GetActive(ctx, ws, in.ConnectionID)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	body := federation.QueryBody{Query: in.Query, Context: in.Context}
	raw, _ := json.Marshal(body)
	rec := store.NewRecord(federation.Message{
		ID: ids.New(), WorkspaceID: conn.WorkspaceID, ConnectionID: conn.ID, MessageType: federation.TypeQuery,
		Direction: federation.Outbound, Status: federation.MsgPending, Query: in.Query, Context: in.Context,
		Attempts: 1, CreatedAt: now, UpdatedAt: now,
	}, federation.EnvQuery, raw, "")
	if err := s.messages.Create(ctx, rec); err != nil {
		return nil, err
	}
	fail := func(reason string, answer error) (*federation.Message, error) {
		if _, err := s.messages.Update(ctx, rec.WorkspaceID, rec.ID, store.MessageUpdate{Step: federation.StepAnswerFailed, Error: &reason}); err != nil {
			s.log.WarnContext(ctx, "could not record the failed query", "messageId", rec.ID, "error", err.Error())
		}
		return nil, answer
	}
	envelope, err := s.signer.Sign(ctx, conn, rec.ID, federation.EnvQuery, body)
	if err != nil {
		return nil, err
	}
	reply, err := s.peers.Post(ctx, conn.RemoteURL, "/incoming/query", envelope)
	if err != nil {
		return fail(err.Error(), peer.Failure(err))
	}
	if reply.Status != http.StatusOK {
		return fail(reply.Describe(), reply.Rejected())
	}
	var resp federation.ResponseBody
	if err := s.verifier.VerifyAnswer(ctx, conn, federation.ExpectedAnswer{Type: federation.EnvQueryResponse, CorrelationID: rec.ID}, reply.Body, &resp); err != nil {
		return fail("invalid QUERY_RESPONSE: "+err.Error(),
			federation.Errorf(federation.CodeRemoteRejected, "invalid QUERY_RESPONSE: %v", err))
	}
	done := s.now().UTC()
	updated, err := s.messages.Update(ctx, rec.WorkspaceID, rec.ID, store.MessageUpdate{
		Step: federation.StepComplete, Response: resp.Response(), DeliveredAt: &done, CompletedAt: &done,
	})
	if err != nil {
		return nil, err
	}
	return &updated.Message, nil
}

// ReceiveQuery answers an incoming QUERY from the built-ins or the query
// backend with a signed QUERY_RESPONSE; credential queries are refused.
func (s *Service) ReceiveQuery(ctx context.Context, raw []byte) (store.Outcome, error) {
	var msg federation.QueryBody
	in, err := s.verifier.Verify(ctx, raw, federation.EnvQuery, &msg)
	if err != nil {
		return store.Outcome{}, err
	}
	var v federation.Checks
	checkQuery(&v, msg.Query, msg.Context)
	if err := v.Err(); err != nil {
		return store.Outcome{}, err
	}
	// A QUERY has no effects, so a duplicate is answered by running it
	// again (PROTOCOL.md §3 step 5): its answer is not kept for duplicates.
	ctx = in.Traced(ctx)
	if !federation.QueryAllowed(msg.Query, msg.Context) {
		return store.Outcome{}, queryNotAllowed()
	}
	conn := in.Conn
	resp, err := s.answerQuery(ctx, platform.Request{
		WorkspaceID: conn.WorkspaceID, ConnectionID: conn.ID, RemoteInstanceID: conn.RemoteInstanceID,
		MessageID: in.MessageID, Query: msg.Query, Context: msg.Context,
	})
	if err != nil {
		s.log.WarnContext(ctx, "query backend failed", "messageId", in.MessageID, "error", err.Error())
		resp = platform.Failure("the query could not be answered now")
	}
	now := s.now().UTC()
	rec := store.NewRecord(federation.Message{
		ID: in.MessageID, WorkspaceID: conn.WorkspaceID, ConnectionID: conn.ID, MessageType: federation.TypeQuery,
		Direction: federation.Inbound, Status: federation.MsgCompleted, Query: msg.Query, Context: msg.Context,
		Response: &resp, Attempts: 1, CreatedAt: now, UpdatedAt: now, DeliveredAt: &now, CompletedAt: &now,
	}, "", nil, "")
	err = s.messages.CreateIncoming(ctx, conn.WorkspaceID, conn.ID, in.MessageID, rec, store.Outcome{})
	var dup *store.ErrDuplicate
	if err != nil && !errors.As(err, &dup) && !errors.Is(err, store.ErrExists) {
		return store.Outcome{}, err // recorded once: a duplicate is answered, not stored again
	}
	answer := incoming.SignedAnswer(http.StatusOK, federation.EnvQueryResponse,
		federation.ResponseBody{CorrelationID: in.MessageID, Success: resp.Success, Data: resp.Data, Error: resp.Error})
	return incoming.Seal(ctx, s.signer, conn, in.MessageID, answer)
}

func (s *Service) answerQuery(ctx context.Context, req platform.Request) (federation.Response, error) {
	if fn, ok := s.queries[req.Query]; ok {
		return signable(fn(ctx, req))
	}
	if s.queryBackend != nil {
		return signable(s.queryBackend.Call(ctx, req))
	}
	return platform.Failure(fmt.Sprintf("unknown query %q", req.Query)), nil
}

// MaxAnswerData bounds the data of a QUERY_RESPONSE or COMMAND_RESPONSE:
// it is stored twice (in the message and in the signed answer) and must fit
// a DynamoDB item and an SQS message.
const MaxAnswerData = 96 * 1024

// signable refuses an answer whose data cannot be signed faithfully (the
// peer would read other numbers than the platform gave) or stored.
func signable(resp federation.Response, err error) (federation.Response, error) {
	switch {
	case err != nil || len(resp.Data) == 0:
	case len(resp.Data) > MaxAnswerData:
		return platform.Failure(fmt.Sprintf("the answer is larger than %d bytes", MaxAnswerData)), nil
	case federation.CheckNumbers(resp.Data) != nil:
		return platform.Failure("the answer holds numbers that cannot be represented exactly"), nil
	}
	return resp, err
}
