package connections

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"

	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/identity"
	"github.com/fedgate/fedgate/shared/ids"
	"github.com/fedgate/fedgate/shared/incoming"
	"github.com/fedgate/fedgate/shared/peer"
	"github.com/fedgate/fedgate/shared/store"
)

// ReceiveConnect takes a peer's CONNECT. It is verified with the key it
// carries, and that key must be the one the claimed instance serves at its
// claimed URL, so nobody can connect in another instance's name. Without an
// invite the connection waits PENDING in the default inbound workspace (202);
// with a valid invite it is ACTIVE in the invite's workspace and the answer
// is the signed CONNECT_RESPONSE (200).
func (s *Service) ReceiveConnect(ctx context.Context, raw []byte) (store.Outcome, error) {
	env, err := s.verifier.Parse(ctx, raw, federation.EnvConnect)
	if err != nil {
		return store.Outcome{}, err
	}
	var msg federation.ConnectBody
	if err := json.Unmarshal(raw, &msg); err != nil {
		return store.Outcome{}, federation.Invalidf("CONNECT members: %v", err)
	}
	if err := checkConnect(msg); err != nil {
		return store.Outcome{}, err
	}
	instanceURL, err := s.peers.NormalizeURL(ctx, msg.InstanceURL)
	if err != nil {
		return store.Outcome{}, federation.Invalidf("instanceUrl: %v", err)
	}
	keyID := env.KeyID
	i := slices.IndexFunc(msg.PublicKeys, func(k federation.RemoteKey) bool { return k.KeyID == keyID })
	if i < 0 {
		return store.Outcome{}, federation.Errorf(federation.CodeUnknownKey, "key %s is not among the CONNECT's publicKeys", keyID)
	}
	if err := federation.VerifyWith(msg.PublicKeys[i], raw); err != nil {
		return store.Outcome{}, err
	}
	self, err := s.identity.Document(ctx)
	if err != nil {
		return store.Outcome{}, err
	}
	if env.InstanceID == self.InstanceID {
		return store.Outcome{}, federation.Invalidf("instanceId is this instance")
	}
	// No trust on first use: the claimed instance must serve this key.
	doc, err := s.peers.FetchInstance(ctx, instanceURL)
	if err != nil {
		return store.Outcome{}, peer.Failure(err)
	}
	served := slices.ContainsFunc(doc.PublicKeys, func(k identity.PublicKey) bool {
		return k.KeyID == keyID && k.PublicKey == msg.PublicKeys[i].PublicKey
	})
	if doc.InstanceID != env.InstanceID || !served {
		return store.Outcome{}, federation.Errorf(federation.CodeUnknownKey, "key %s is not served by instance %s at %s", keyID, env.InstanceID, instanceURL)
	}
	if first, err := s.messages.FirstAnswer(ctx, "", env.ConnectionID, env.MessageID); err == nil {
		return *first, nil
	}

	now := s.now().UTC()
	conn := &federation.Connection{
		ID: env.ConnectionID, WorkspaceID: s.defaultInboundWorkspace, RemoteInstanceID: env.InstanceID,
		RemoteURL: instanceURL, RemoteName: msg.Name, Direction: federation.Inbound, Status: federation.StatusPending,
		RemoteCapabilities: msg.Capabilities, RemoteKeys: doc.RemoteKeys(), KeysFetchedAt: now,
		CreatedAt: now, UpdatedAt: now,
	}
	// Without an invite the connection waits for a user and takes one of the
	// origin's pending slots, so a flood of CONNECTs stores a bounded amount.
	also := s.connections.PendingSlot(instanceURL, s.pendingPerOrigin, s.pendingTotal)
	answer := incoming.AnswerJSON(http.StatusAccepted, map[string]federation.ConnStatus{"status": federation.StatusPending})
	if msg.InviteToken != "" {
		ws, err := s.invites.Workspace(ctx, msg.InviteToken, now)
		if err != nil {
			return store.Outcome{}, federation.Forbiddenf("the invite is invalid, already used or expired")
		}
		conn.WorkspaceID, conn.Status, conn.ConnectedAt = ws, federation.StatusActive, &now
		selfCaps, _ := json.Marshal(self.Capabilities)
		resp, err := s.signer.Sign(ctx, conn, ids.New(), federation.EnvConnectResponse, federation.ConnectResponseBody{
			Accepted: true, PublicKey: self.PublicKey, Capabilities: selfCaps,
		})
		if err != nil {
			return store.Outcome{}, err
		}
		answer = store.Outcome{Status: http.StatusOK, Body: string(resp)}
		also = []store.Write{s.invites.ConsumeWrite(msg.InviteToken, conn.ID, now)}
	}
	also = append(also, s.messages.AnswerWrite(conn.ID, env.MessageID, answer))
	err = s.connections.Create(ctx, conn, also...)
	var live *store.ErrLiveConnection
	switch {
	case err == nil:
	case errors.Is(err, store.ErrPrecondition), errors.Is(err, store.ErrExists):
		if first, ferr := s.messages.FirstAnswer(ctx, "", conn.ID, env.MessageID); ferr == nil {
			return *first, nil // the same CONNECT again (a concurrent duplicate won)
		}
		switch {
		case errors.Is(err, store.ErrExists):
			return store.Outcome{}, federation.Conflictf("the connection id is taken") // naming nothing of the one that has it
		case msg.InviteToken != "":
			return store.Outcome{}, federation.Forbiddenf("the invite is invalid, already used or expired")
		}
		return store.Outcome{}, federation.Errorf(federation.CodeLimitExceeded,
			"too many connections from %s (at most %d) or in all (at most %d) wait to be accepted", instanceURL, s.pendingPerOrigin, s.pendingTotal)
	case errors.As(err, &live):
		return store.Outcome{}, federation.Conflictf("a live connection to this instance exists")
	default:
		return store.Outcome{}, err
	}
	s.log.InfoContext(ctx, "inbound connection", "connectionId", conn.ID, "remoteInstanceId", conn.RemoteInstanceID, "status", conn.Status, "workspaceId", conn.WorkspaceID)
	return answer, nil
}

// ReceiveConnectResponse takes the peer's answer to our CONNECT when it
// comes later than the CONNECT's own answer.
func (s *Service) ReceiveConnectResponse(ctx context.Context, raw []byte) (store.Outcome, error) {
	var resp federation.ConnectResponseBody
	in, err := s.verifier.Verify(ctx, raw, federation.EnvConnectResponse, &resp,
		federation.StatusPending, federation.StatusActive, federation.StatusRejected)
	if err != nil {
		return store.Outcome{}, err
	}
	return incoming.Respond(in, func() (store.Outcome, error) {
		if in.Conn.Direction != federation.Outbound {
			return store.Outcome{}, federation.Conflictf("connection %s was not initiated here", in.Conn.ID)
		}
		updated, err := s.applyConnectResponse(ctx, in.Conn, resp)
		if err != nil {
			return store.Outcome{}, err
		}
		answer := incoming.AnswerJSON(http.StatusOK, map[string]federation.ConnStatus{"status": updated.Status})
		return answer, s.messages.CreateIncoming(ctx, in.Conn.WorkspaceID, in.Conn.ID, in.MessageID, nil, answer)
	})
}

// ReceiveDisconnect takes the peer's DISCONNECT: its side ends too.
func (s *Service) ReceiveDisconnect(ctx context.Context, raw []byte) (store.Outcome, error) {
	var msg federation.DisconnectBody
	// From SUSPENDED too: a local suspension never leaves the sides out of step.
	in, err := s.verifier.Verify(ctx, raw, federation.EnvDisconnect, &msg, federation.StatusPending, federation.StatusActive,
		federation.StatusSuspended, federation.StatusDisconnected, federation.StatusRejected)
	if err != nil {
		return store.Outcome{}, err
	}
	return incoming.Respond(in, func() (store.Outcome, error) {
		if in.Conn.Status.IsLive() {
			reason := federation.Truncate(msg.Reason, MaxReasonLen)
			_, err := s.connections.Transition(ctx, in.Conn.WorkspaceID, in.Conn.ID, store.ConnectionChange{
				To: federation.StatusDisconnected, Reason: &reason,
			})
			if err != nil && !errors.Is(err, store.ErrConflict) {
				return store.Outcome{}, err
			}
		}
		s.log.InfoContext(ctx, "peer disconnected", "connectionId", in.Conn.ID)
		answer := incoming.AnswerJSON(http.StatusOK, map[string]federation.ConnStatus{"status": federation.StatusDisconnected})
		return answer, s.messages.CreateIncoming(ctx, in.Conn.WorkspaceID, in.Conn.ID, in.MessageID, nil, answer)
	})
}

// checkConnect applies the bounds of an identity document to a CONNECT's
// members (PROTOCOL.md §5).
func checkConnect(msg federation.ConnectBody) error {
	var v federation.Checks
	v.Required("instanceUrl", msg.InstanceURL)
	v.Required("publicKey", msg.PublicKey)
	v.Check(len(msg.PublicKey) <= federation.MaxKeyBytes, "publicKey", "must be at most 4 KiB")
	federation.CheckPeerKeys(&v, "publicKeys", msg.PublicKeys)
	v.Check(len(msg.Name) <= federation.MaxNameLen, "name", "must be at most 200 characters")
	v.Object("capabilities", msg.Capabilities)
	if len(msg.Capabilities) > 0 && string(msg.Capabilities) != "null" {
		var caps identity.Capabilities
		if json.Unmarshal(msg.Capabilities, &caps) == nil {
			v.Check(len(caps.MessageTypes) <= federation.MaxCapabilityItems && len(caps.CommandTypes) <= federation.MaxCapabilityItems &&
				len(caps.EventTypes) <= federation.MaxCapabilityItems, "capabilities", "lists must have at most 100 entries")
		}
	}
	return v.Err()
}

// ExpirePending rejects the INBOUND PENDING connections that no user
// accepted within PendingExpiry (the peer hears CONNECT_RESPONSE accepted=false).
func (s *Service) ExpirePending(ctx context.Context) error {
	old, err := s.connections.PendingInbound(ctx, s.defaultInboundWorkspace, s.now().Add(-s.pendingExpiry))
	if err != nil {
		return err
	}
	for _, c := range old {
		_, err := s.Reject(ctx, c.WorkspaceID, c.ID, ChangeInput{Reason: "expired: not accepted in time"})
		if err != nil && !errors.Is(err, store.ErrConflict) {
			return err
		}
		s.log.InfoContext(ctx, "pending connection expired", "connectionId", c.ID, "remoteUrl", c.RemoteURL)
	}
	return nil
}
