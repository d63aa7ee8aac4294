package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/fedgate/fedgate/shared/api"
	"github.com/fedgate/fedgate/shared/app"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/identity"
	"github.com/fedgate/fedgate/shared/ids"
	"github.com/fedgate/fedgate/shared/incoming"
	"github.com/fedgate/fedgate/shared/peer"
	"github.com/fedgate/fedgate/shared/store"
)

const maxReasonLen = 500

// connectionView is the Connection resource: health shows "half-open" once
// an open circuit's wait is over and the next delivery is a probe.
func connectionView(c *federation.Connection, now time.Time) federation.Connection {
	v := *c
	if len(v.Metadata) == 0 {
		v.Metadata = json.RawMessage("{}")
	}
	if len(v.RemoteCapabilities) == 0 {
		v.RemoteCapabilities = json.RawMessage("{}")
	}
	if v.Health.Circuit == "" {
		v.Health.Circuit = federation.CircuitClosed
	}
	if v.Health.Circuit == federation.CircuitOpen && v.Health.OpenUntil != nil && !v.Health.OpenUntil.After(now) {
		v.Health.Circuit = federation.CircuitHalfOpen
	}
	return v
}

type initiateRequest struct {
	RemoteURL   string          `json:"remoteUrl"`
	InviteToken string          `json:"inviteToken"`
	Metadata    json.RawMessage `json:"metadata"`
}

// ConnectionsInitiate serves POST /connections/initiate: fetch the peer's
// identity, store an OUTBOUND PENDING connection, send it a signed CONNECT.
func ConnectionsInitiate(a *app.App) api.LambdaHandler {
	return handle(a, "connections-initiate", func(ctx context.Context, c *api.Call) (int, any, error) {
		var req initiateRequest
		if err := c.Decode(&req); err != nil {
			return 0, nil, err
		}
		var v api.Validator
		v.Required("remoteUrl", req.RemoteURL)
		v.Check(len(req.InviteToken) <= 200, "inviteToken", "must be at most 200 characters")
		rawObject(&v, "metadata", req.Metadata)
		if err := v.Err(); err != nil {
			return 0, nil, err
		}
		remote, err := a.Peers.NormalizeURL(ctx, req.RemoteURL)
		if err != nil {
			return 0, nil, api.ValidationFailed("remoteUrl: %v", err)
		}
		doc, err := a.Peers.FetchInstance(ctx, remote)
		if err != nil {
			return 0, nil, peerError(err)
		}
		self, err := a.Identity.Document(ctx)
		if err != nil {
			return 0, nil, err
		}
		if doc.InstanceID == self.InstanceID {
			return 0, nil, api.ValidationFailed("remoteUrl is this instance")
		}
		caps, _ := json.Marshal(doc.Capabilities)
		now := a.Now().UTC()
		conn := &federation.Connection{
			ID: ids.New(), WorkspaceID: c.Claims.Workspace, RemoteInstanceID: doc.InstanceID, RemoteURL: remote,
			RemoteName: doc.Name, Direction: federation.Outbound, Status: federation.StatusPending,
			RemoteCapabilities: caps, Metadata: req.Metadata, RemoteKeys: incoming.RemoteKeys(doc.PublicKeys),
			CreatedAt: now, UpdatedAt: now,
		}
		if err := a.Connections.Create(ctx, conn); err != nil {
			return 0, nil, storeError(err, "connection")
		}
		selfCaps, _ := json.Marshal(self.Capabilities)
		keys := make([]federation.RemoteKey, len(self.PublicKeys))
		for i, k := range self.PublicKeys {
			keys[i] = federation.RemoteKey{KeyID: k.KeyID, Alg: k.Alg, PublicKey: k.PublicKey, Status: k.Status}
		}
		envelope, err := a.Signer.Sign(ctx, ids.New(), federation.EnvConnect, conn.ID, federation.ConnectBody{
			InstanceURL: a.Config.Identity.URL, Name: self.Name, PublicKey: self.PublicKey, PublicKeys: keys,
			Capabilities: selfCaps, InviteToken: req.InviteToken,
		})
		if err != nil {
			return 0, nil, err
		}
		c.Log.Info("sending CONNECT", "connectionId", conn.ID, "remoteInstanceId", doc.InstanceID)
		reply, err := a.Peers.Post(ctx, remote, "/incoming/connect", envelope)
		abandon := func(reason string) {
			if _, terr := a.Connections.Transition(ctx, conn.WorkspaceID, conn.ID, store.Change{
				To: federation.StatusDisconnected, Set: map[string]any{"reason": reason},
			}); terr != nil {
				c.Log.Warn("could not close the failed connection", "connectionId", conn.ID, "error", terr.Error())
			}
		}
		if err != nil {
			abandon("CONNECT failed: " + err.Error())
			return 0, nil, peerError(err)
		}
		switch {
		case reply.Status == http.StatusAccepted:
		case reply.Status == http.StatusOK:
			// An invite auto-accepted: the body is the signed CONNECT_RESPONSE.
			updated, err := applyConnectResponse(ctx, a, conn, reply.Body)
			if err != nil {
				abandon("invalid CONNECT_RESPONSE")
				return 0, nil, api.Errorf(http.StatusBadGateway, "remote_rejected", "peer's CONNECT_RESPONSE: %v", err)
			}
			conn = updated
		case reply.Status == http.StatusForbidden:
			_, msg := peer.ErrorCode(reply.Body)
			abandon(reply.Describe())
			return 0, nil, api.Forbidden("the remote instance refused the connection: %s", msg)
		default:
			abandon(reply.Describe())
			return 0, nil, remoteRejected(reply)
		}
		return http.StatusCreated, connectionView(conn, now), nil
	})
}

// connectResponse is a CONNECT_RESPONSE on the wire.
type connectResponse struct {
	federation.Envelope
	federation.ConnectResponseBody
}

// applyConnectResponse verifies a CONNECT_RESPONSE for an OUTBOUND PENDING
// connection with the keys fetched at initiation, and moves the connection
// to ACTIVE or REJECTED. Applying the same answer twice is harmless.
func applyConnectResponse(ctx context.Context, a *app.App, conn *federation.Connection, raw []byte) (*federation.Connection, error) {
	var resp connectResponse
	if err := json.Unmarshal(raw, &resp); err != nil {
		return nil, api.InvalidJSON("CONNECT_RESPONSE: %v", err)
	}
	if err := resp.Check(federation.EnvConnectResponse); err != nil {
		return nil, api.ValidationFailed("%v", err)
	}
	if resp.ConnectionID != conn.ID || resp.InstanceID != conn.RemoteInstanceID {
		return nil, incoming.UnknownKey("CONNECT_RESPONSE is for another connection")
	}
	k, ok := conn.RemoteKey(resp.KeyID)
	if !ok {
		return nil, incoming.UnknownKey("key %s is not a key of instance %s", resp.KeyID, conn.RemoteInstanceID)
	}
	if err := incoming.VerifyWith(k, raw); err != nil {
		return nil, err
	}
	to := federation.StatusRejected
	set := map[string]any{"reason": truncate(resp.Reason, maxReasonLen)}
	if resp.Accepted {
		to = federation.StatusActive
		set = map[string]any{"connectedAt": a.Now().UTC()}
		if len(resp.Capabilities) > 0 {
			set["remoteCapabilities"] = []byte(resp.Capabilities)
		}
	}
	if conn.Status == to {
		return conn, nil
	}
	updated, err := a.Connections.Transition(ctx, conn.WorkspaceID, conn.ID, store.Change{To: to, Direction: federation.Outbound, Set: set})
	if errors.Is(err, store.ErrConflict) && updated != nil && updated.Status == to {
		return updated, nil // applied concurrently
	}
	return updated, storeError(err, "connection")
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

type inviteRequest struct {
	ExpiresInSeconds *int `json:"expiresInSeconds"`
}

// ConnectionsInvite serves POST /connections/invites (admin): a single-use
// token that makes the next CONNECT carrying it land ACTIVE in this workspace.
func ConnectionsInvite(a *app.App) api.LambdaHandler {
	return handle(a, "connections-invite", func(ctx context.Context, c *api.Call) (int, any, error) {
		var req inviteRequest
		if err := decodeOptional(c, &req); err != nil {
			return 0, nil, err
		}
		ttl := 900
		if req.ExpiresInSeconds != nil {
			ttl = *req.ExpiresInSeconds
			if ttl < 60 || ttl > 86400 {
				return 0, nil, api.ValidationFailed("expiresInSeconds must be from 60 to 86400")
			}
		}
		token := ids.Token(24)
		expires := a.Now().UTC().Add(time.Duration(ttl) * time.Second)
		if err := a.Invites.Create(ctx, token, c.Claims.Workspace, c.Claims.Subject, expires); err != nil {
			return 0, nil, err
		}
		c.Log.Info("invite created", "expiresAt", expires)
		return http.StatusCreated, map[string]any{"token": token, "expiresAt": expires}, nil
	})
}

// ConnectionsList serves GET /connections (?status=, ?limit=, ?cursor=).
func ConnectionsList(a *app.App) api.LambdaHandler {
	return handle(a, "connections-list", func(ctx context.Context, c *api.Call) (int, any, error) {
		status, err := oneOf(c, "status", federation.ConnectionStatuses)
		if err != nil {
			return 0, nil, err
		}
		limit, cursor, err := listParams(c)
		if err != nil {
			return 0, nil, err
		}
		page, err := a.Connections.List(ctx, c.Claims.Workspace, status, limit, cursor)
		if err != nil {
			return 0, nil, storeError(err, "connection")
		}
		now := a.Now()
		for i := range page.Items {
			page.Items[i] = connectionView(&page.Items[i], now)
		}
		return http.StatusOK, page, nil
	})
}

// ConnectionsGet serves GET /connections/{id}.
func ConnectionsGet(a *app.App) api.LambdaHandler {
	return handle(a, "connections-get", func(ctx context.Context, c *api.Call) (int, any, error) {
		conn, err := a.Connections.Get(ctx, c.Claims.Workspace, c.Param("id"))
		if err != nil {
			return 0, nil, storeError(err, "connection")
		}
		return http.StatusOK, connectionView(conn, a.Now()), nil
	})
}

type changeRequest struct {
	Reason   string          `json:"reason"`
	Metadata json.RawMessage `json:"metadata"`
}

// transitionHandler builds the accept/reject/disconnect/suspend/resume
// handlers: one conditional write moves the connection, and for those the
// peer must hear about, the notice to send is written in the same transaction.
func transitionHandler(a *app.App, name string, to, direction string, from []string, notice func(conn *federation.Connection, req changeRequest, self identity.Document) (string, any)) api.LambdaHandler {
	return handle(a, name, func(ctx context.Context, c *api.Call) (int, any, error) {
		var req changeRequest
		if err := decodeOptional(c, &req); err != nil {
			return 0, nil, err
		}
		var v api.Validator
		v.Check(len(req.Reason) <= maxReasonLen, "reason", "must be at most 500 characters")
		rawObject(&v, "metadata", req.Metadata)
		if name == "connections-reject" {
			v.Required("reason", req.Reason)
		}
		if err := v.Err(); err != nil {
			return 0, nil, err
		}
		ws, id := c.Claims.Workspace, c.Param("id")
		conn, err := a.Connections.Get(ctx, ws, id)
		if err != nil {
			return 0, nil, storeError(err, "connection")
		}
		ch := store.Change{To: to, From: from, Direction: direction, Set: map[string]any{}}
		if req.Reason != "" {
			ch.Set["reason"] = req.Reason
		}
		if len(req.Metadata) > 0 {
			ch.Set["metadata"] = []byte(req.Metadata)
		}
		switch to {
		case federation.StatusActive:
			if conn.Status == federation.StatusPending {
				ch.Set["connectedAt"] = a.Now().UTC()
			} else {
				ch.Set["health"] = federation.Health{Circuit: federation.CircuitClosed} // resume resets health
			}
		}
		var rec *store.MessageRecord
		if notice != nil {
			self, err := a.Identity.Document(ctx)
			if err != nil {
				return 0, nil, err
			}
			envType, body := notice(conn, req, self)
			if rec, err = controlMessage(a, conn, envType, body); err != nil {
				return 0, nil, err
			}
			item, err := a.Messages.PutItem(rec)
			if err != nil {
				return 0, nil, err
			}
			ch.Extra = []types.TransactWriteItem{item}
		}
		updated, err := a.Connections.Transition(ctx, ws, id, ch)
		if err != nil {
			return 0, nil, storeError(err, "connection")
		}
		c.Log.Info("connection changed", "connectionId", id, "status", updated.Status)
		if rec != nil {
			kick(ctx, a, rec)
		}
		return http.StatusOK, connectionView(updated, a.Now()), nil
	})
}

func connectResponseNotice(accepted bool) func(*federation.Connection, changeRequest, identity.Document) (string, any) {
	return func(_ *federation.Connection, req changeRequest, doc identity.Document) (string, any) {
		caps, _ := json.Marshal(doc.Capabilities)
		return federation.EnvConnectResponse, federation.ConnectResponseBody{
			Accepted: accepted, Reason: req.Reason, PublicKey: doc.PublicKey, Capabilities: caps,
		}
	}
}

// ConnectionsAccept serves POST /connections/{id}/accept.
func ConnectionsAccept(a *app.App) api.LambdaHandler {
	return transitionHandler(a, "connections-accept", federation.StatusActive, federation.Inbound, []string{federation.StatusPending}, connectResponseNotice(true))
}

// ConnectionsReject serves POST /connections/{id}/reject.
func ConnectionsReject(a *app.App) api.LambdaHandler {
	return transitionHandler(a, "connections-reject", federation.StatusRejected, federation.Inbound, nil, connectResponseNotice(false))
}

// ConnectionsDisconnect serves POST /connections/{id}/disconnect.
func ConnectionsDisconnect(a *app.App) api.LambdaHandler {
	return transitionHandler(a, "connections-disconnect", federation.StatusDisconnected, "", nil, func(_ *federation.Connection, req changeRequest, _ identity.Document) (string, any) {
		return federation.EnvDisconnect, federation.DisconnectBody{Reason: req.Reason}
	})
}

// ConnectionsSuspend serves POST /connections/{id}/suspend (local only).
func ConnectionsSuspend(a *app.App) api.LambdaHandler {
	return transitionHandler(a, "connections-suspend", federation.StatusSuspended, "", nil, nil)
}

// ConnectionsResume serves POST /connections/{id}/resume (local only; resets health).
func ConnectionsResume(a *app.App) api.LambdaHandler {
	return transitionHandler(a, "connections-resume", federation.StatusActive, "", []string{federation.StatusSuspended}, nil)
}
