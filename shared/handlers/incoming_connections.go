package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/fedgate/fedgate/shared/api"
	"github.com/fedgate/fedgate/shared/app"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/identity"
	"github.com/fedgate/fedgate/shared/ids"
	"github.com/fedgate/fedgate/shared/incoming"
	"github.com/fedgate/fedgate/shared/store"
)

type connectEnvelope struct {
	federation.Envelope
	federation.ConnectBody
}

// IncomingConnect serves POST /incoming/connect. CONNECT is verified with the
// key it carries, and that key must be the one the claimed instance serves at
// its claimed URL, so nobody can connect in another instance's name.
func IncomingConnect(a *app.App) api.LambdaHandler {
	return handle(a, "incoming-connect", func(ctx context.Context, c *api.Call) (int, any, error) {
		raw := c.Body()
		env, err := a.Verifier.Parse(raw, federation.EnvConnect)
		if err != nil {
			return 0, nil, err
		}
		var msg connectEnvelope
		if err := json.Unmarshal(raw, &msg); err != nil {
			return 0, nil, api.ValidationFailed("CONNECT members: %v", err)
		}
		var v api.Validator
		v.Required("instanceUrl", msg.InstanceURL)
		v.Required("publicKey", msg.PublicKey)
		v.Check(len(msg.PublicKeys) > 0 && len(msg.PublicKeys) <= 20, "publicKeys", "must list 1 to 20 keys")
		v.Check(len(msg.Name) <= 200, "name", "must be at most 200 characters")
		rawObject(&v, "capabilities", msg.Capabilities)
		if err := v.Err(); err != nil {
			return 0, nil, err
		}
		instanceURL, err := a.Peers.NormalizeURL(ctx, msg.InstanceURL)
		if err != nil {
			return 0, nil, api.ValidationFailed("instanceUrl: %v", err)
		}
		keyID := env.KeyID
		i := slices.IndexFunc(msg.PublicKeys, func(k federation.RemoteKey) bool { return k.KeyID == keyID })
		if i < 0 {
			return 0, nil, incoming.UnknownKey("key %s is not among the CONNECT's publicKeys", keyID)
		}
		if err := incoming.VerifyWith(msg.PublicKeys[i], raw); err != nil {
			return 0, nil, err
		}
		self, err := a.Identity.Document(ctx)
		if err != nil {
			return 0, nil, err
		}
		if env.InstanceID == self.InstanceID {
			return 0, nil, api.ValidationFailed("instanceId is this instance")
		}
		// No trust on first use: the claimed instance must serve this key.
		doc, err := a.Peers.FetchInstance(ctx, instanceURL)
		if err != nil {
			return 0, nil, peerError(err)
		}
		served := slices.ContainsFunc(doc.PublicKeys, func(k identity.PublicKey) bool {
			return k.KeyID == keyID && k.PublicKey == msg.PublicKeys[i].PublicKey
		})
		if doc.InstanceID != env.InstanceID || !served {
			return 0, nil, incoming.UnknownKey("key %s is not served by instance %s at %s", keyID, env.InstanceID, instanceURL)
		}
		if first, err := a.Messages.FirstAnswer(ctx, "", env.ConnectionID, env.MessageID); err == nil {
			return first.Status, json.RawMessage(first.Body), nil
		}

		now := a.Now().UTC()
		conn := &federation.Connection{
			ID: env.ConnectionID, WorkspaceID: a.Config.DefaultInboundWorkspace, RemoteInstanceID: env.InstanceID,
			RemoteURL: instanceURL, RemoteName: msg.Name, Direction: federation.Inbound, Status: federation.StatusPending,
			RemoteCapabilities: msg.Capabilities, RemoteKeys: incoming.RemoteKeys(doc.PublicKeys),
			CreatedAt: now, UpdatedAt: now,
		}
		var extra []types.TransactWriteItem
		answer, _ := incoming.AnswerJSON(http.StatusAccepted, map[string]string{"status": federation.StatusPending})
		if msg.InviteToken != "" {
			ws, err := a.Invites.Workspace(ctx, msg.InviteToken, now)
			if err != nil {
				return 0, nil, api.Forbidden("the invite is invalid, already used or expired")
			}
			conn.WorkspaceID, conn.Status, conn.ConnectedAt = ws, federation.StatusActive, &now
			selfCaps, _ := json.Marshal(self.Capabilities)
			resp, err := a.Signer.Sign(ctx, ids.New(), federation.EnvConnectResponse, conn.ID, federation.ConnectResponseBody{
				Accepted: true, PublicKey: self.PublicKey, Capabilities: selfCaps,
			})
			if err != nil {
				return 0, nil, err
			}
			answer = store.Answer{Status: http.StatusOK, Body: string(resp)}
			extra = append(extra, a.Invites.Consume(msg.InviteToken, conn.ID, now))
		}
		extra = append(extra, a.Messages.AnswerItem(conn.ID, env.MessageID, answer))
		err = a.Connections.CreateWith(ctx, conn, extra...)
		switch {
		case errors.Is(err, store.ErrPrecondition):
			if first, ferr := a.Messages.FirstAnswer(ctx, "", conn.ID, env.MessageID); ferr == nil {
				return first.Status, json.RawMessage(first.Body), nil // a concurrent duplicate won
			}
			return 0, nil, api.Forbidden("the invite is invalid, already used or expired")
		case err != nil:
			return 0, nil, storeError(err, "connection")
		}
		c.Log.Info("inbound connection", "connectionId", conn.ID, "remoteInstanceId", conn.RemoteInstanceID, "status", conn.Status, "workspaceId", conn.WorkspaceID)
		return answer.Status, json.RawMessage(answer.Body), nil
	})
}

// IncomingConnectResponse serves POST /incoming/connect/response.
func IncomingConnectResponse(a *app.App) api.LambdaHandler {
	return handle(a, "incoming-connect-response", func(ctx context.Context, c *api.Call) (int, any, error) {
		in, err := a.Verifier.Verify(ctx, c.Body(), federation.EnvConnectResponse,
			federation.StatusPending, federation.StatusActive, federation.StatusRejected)
		if err != nil {
			return 0, nil, err
		}
		return incoming.Respond(in, func() (store.Answer, error) {
			if in.Conn.Direction != federation.Outbound {
				return store.Answer{}, api.Conflict("connection %s was not initiated here", in.Conn.ID)
			}
			updated, err := applyConnectResponse(ctx, a, in.Conn, in.Raw)
			if err != nil {
				return store.Answer{}, err
			}
			answer, _ := incoming.AnswerJSON(http.StatusOK, map[string]string{"status": updated.Status})
			return answer, a.Messages.CreateIncoming(ctx, in.Conn.WorkspaceID, in.Conn.ID, in.MessageID, nil, answer)
		})
	})
}

type disconnectEnvelope struct {
	federation.Envelope
	federation.DisconnectBody
}

// IncomingDisconnect serves POST /incoming/disconnect.
func IncomingDisconnect(a *app.App) api.LambdaHandler {
	return handle(a, "incoming-disconnect", func(ctx context.Context, c *api.Call) (int, any, error) {
		in, msg, err := verified[disconnectEnvelope](ctx, a, c, federation.EnvDisconnect,
			federation.StatusPending, federation.StatusActive, federation.StatusDisconnected, federation.StatusRejected)
		if err != nil {
			return 0, nil, err
		}
		return incoming.Respond(in, func() (store.Answer, error) {
			if federation.IsLive(in.Conn.Status) {
				_, err := a.Connections.Transition(ctx, in.Conn.WorkspaceID, in.Conn.ID, store.Change{
					To: federation.StatusDisconnected, Set: map[string]any{"reason": truncate(msg.Reason, maxReasonLen)},
				})
				if err != nil && !errors.Is(err, store.ErrConflict) {
					return store.Answer{}, err
				}
			}
			c.Log.Info("peer disconnected", "connectionId", in.Conn.ID)
			answer, _ := incoming.AnswerJSON(http.StatusOK, map[string]string{"status": federation.StatusDisconnected})
			return answer, a.Messages.CreateIncoming(ctx, in.Conn.WorkspaceID, in.Conn.ID, in.MessageID, nil, answer)
		})
	})
}
