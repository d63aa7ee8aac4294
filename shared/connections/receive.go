package connections

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/identity"
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
	c, err := s.readConnect(ctx, raw)
	if err != nil {
		return store.Outcome{}, err
	}
	doc, err := s.confirmIdentity(ctx, c)
	if err != nil {
		return store.Outcome{}, err
	}
	if first, err := s.messages.FirstAnswer(ctx, "", c.env.ConnectionID, c.env.MessageID); err == nil {
		return s.repeat(ctx, c, *first) // the same CONNECT again
	}
	return s.storeConnect(ctx, c, doc)
}

// repeat answers a CONNECT seen before with its first outcome; an invite's
// CONNECT_RESPONSE is signed afresh, on the connection it made.
func (s *Service) repeat(ctx context.Context, c *connect, first store.Outcome) (store.Outcome, error) {
	if first.SignAs == "" {
		return first, nil
	}
	conn, err := s.connections.GetByID(ctx, c.env.ConnectionID)
	if err != nil {
		return store.Outcome{}, err
	}
	return incoming.Seal(ctx, s.signer, conn, c.env.MessageID, first)
}

// connect is a CONNECT read and verified with the key it carries.
type connect struct {
	env         federation.Envelope
	msg         federation.ConnectBody
	instanceURL string               // normalized
	key         federation.RemoteKey // the key it is signed with
	self        identity.Document
}

// readConnect runs the CONNECT's own checks: PROTOCOL §3 steps 1, 2 and 2a,
// the bounds of its members, and its signature with the key it carries.
func (s *Service) readConnect(ctx context.Context, raw []byte) (*connect, error) {
	c := &connect{}
	env, err := s.verifier.Parse(ctx, raw, federation.EnvConnect, &c.msg)
	if err != nil {
		return nil, err
	}
	c.env = env
	if err := checkConnect(c.msg); err != nil {
		return nil, err
	}
	if c.instanceURL, err = s.peers.NormalizeURL(ctx, c.msg.InstanceURL); err != nil {
		return nil, federation.Invalidf("instanceUrl: %v", err)
	}
	i := slices.IndexFunc(c.msg.PublicKeys, func(k federation.RemoteKey) bool { return k.KeyID == env.KeyID })
	if i < 0 {
		return nil, federation.Errorf(federation.CodeUnknownKey, "key %s is not among the CONNECT's publicKeys", env.KeyID)
	}
	c.key = c.msg.PublicKeys[i]
	if err := federation.VerifyWith(c.key, raw); err != nil {
		return nil, err
	}
	if c.self, err = s.identity.Document(ctx); err != nil {
		return nil, err
	}
	if env.InstanceID == c.self.InstanceID {
		return nil, federation.Invalidf("instanceId is this instance")
	}
	return c, nil
}

// confirmIdentity fetches the claimed instance's document: it must serve
// the CONNECT's key (no trust on first use).
func (s *Service) confirmIdentity(ctx context.Context, c *connect) (*identity.Document, error) {
	doc, err := s.peers.FetchInstance(ctx, c.instanceURL)
	if err != nil {
		// Told in a fixed vocabulary: a stranger learns nothing of our
		// network from the error (the detail stays in the log).
		s.log.InfoContext(ctx, "CONNECT's identity not confirmed", "instanceUrl", c.instanceURL, "error", err.Error())
		switch {
		case errors.Is(err, peer.ErrTimeout):
			return nil, federation.Errorf(federation.CodeRemoteTimeout, "the instance at instanceUrl did not answer in time")
		case errors.Is(err, peer.ErrBadURL):
			return nil, federation.Invalidf("instanceUrl is not an address this instance connects to")
		case errors.Is(err, peer.ErrBadDocument):
			return nil, federation.Invalidf("the document at instanceUrl is not a valid identity document (at most %d bytes)", federation.MaxDocumentBytes)
		}
		return nil, federation.Errorf(federation.CodeRemoteUnreachable, "the instance at instanceUrl could not be read to confirm the CONNECT's key")
	}
	served := slices.ContainsFunc(doc.PublicKeys, func(k identity.PublicKey) bool {
		return k.KeyID == c.key.KeyID && k.PublicKey == c.key.PublicKey
	})
	if doc.InstanceID != c.env.InstanceID || !served {
		return nil, federation.Errorf(federation.CodeUnknownKey, "key %s is not served by instance %s at %s", c.key.KeyID, c.env.InstanceID, c.instanceURL)
	}
	return doc, nil
}

// storeConnect stores the INBOUND connection with its first answer: PENDING
// in the default inbound workspace, taking one of the origin's pending slots,
// or with an invite ACTIVE in the invite's workspace.
func (s *Service) storeConnect(ctx context.Context, c *connect, doc *identity.Document) (store.Outcome, error) {
	now := s.now().UTC()
	conn := &federation.Connection{
		ID: c.env.ConnectionID, WorkspaceID: s.defaultInboundWorkspace, RemoteInstanceID: c.env.InstanceID,
		RemoteURL: c.instanceURL, RemoteName: c.msg.Name, Direction: federation.Inbound, Status: federation.StatusPending,
		RemoteCapabilities: c.msg.Capabilities, RemoteKeys: doc.RemoteKeys(), KeysFetchedAt: now,
		CreatedAt: now, UpdatedAt: now,
	}
	// Without an invite the connection waits for a user and takes one of the
	// origin's pending slots, so a flood of CONNECTs stores a bounded amount.
	also := s.connections.PendingSlot(c.instanceURL, s.pendingPerOrigin, s.pendingTotal)
	answer := incoming.AnswerJSON(http.StatusAccepted, map[string]federation.ConnStatus{"status": federation.StatusPending})
	if c.msg.InviteToken != "" {
		var err error
		if answer, also, err = s.invited(ctx, c, conn, now); err != nil {
			return store.Outcome{}, err
		}
	}
	also = append(also, s.messages.AnswerWrite(conn.ID, c.env.MessageID, answer))
	if err := s.connections.Create(ctx, conn, also...); err != nil {
		return s.connectCollision(ctx, c, err)
	}
	s.log.InfoContext(ctx, "inbound connection", "connectionId", conn.ID, "remoteInstanceId", conn.RemoteInstanceID, "status", conn.Status, "workspaceId", conn.WorkspaceID)
	return incoming.Seal(ctx, s.signer, conn, c.env.MessageID, answer)
}

// invited makes conn ACTIVE in the invite's workspace: the answer is the
// signed CONNECT_RESPONSE, and the invite is consumed with the connection.
func (s *Service) invited(ctx context.Context, c *connect, conn *federation.Connection, now time.Time) (store.Outcome, []store.Write, error) {
	ws, err := s.invites.Workspace(ctx, c.msg.InviteToken, now)
	if err != nil {
		return store.Outcome{}, nil, federation.Forbiddenf("the invite is invalid, already used or expired")
	}
	conn.WorkspaceID, conn.Status, conn.ConnectedAt = ws, federation.StatusActive, &now
	selfCaps, _ := json.Marshal(c.self.Capabilities)
	answer := incoming.SignedAnswer(http.StatusOK, federation.EnvConnectResponse, federation.ConnectResponseBody{
		Accepted: true, PublicKey: c.self.PublicKey, Capabilities: selfCaps,
	})
	return answer, []store.Write{s.invites.ConsumeWrite(c.msg.InviteToken, conn.ID, now)}, nil
}

// connectCollision tells why a CONNECT's connection was not created: the
// same CONNECT again (a concurrent duplicate won: its answer), a taken id, a
// used invite, the pending limits, or a live connection to the origin.
func (s *Service) connectCollision(ctx context.Context, c *connect, err error) (store.Outcome, error) {
	var live *store.ErrLiveConnection
	switch {
	case errors.Is(err, store.ErrPrecondition), errors.Is(err, store.ErrExists):
		if first, ferr := s.messages.FirstAnswer(ctx, "", c.env.ConnectionID, c.env.MessageID); ferr == nil {
			return s.repeat(ctx, c, *first)
		}
		switch {
		case errors.Is(err, store.ErrExists):
			return store.Outcome{}, federation.Conflictf("the connection id is taken") // naming nothing of the one that has it
		case c.msg.InviteToken != "":
			return store.Outcome{}, federation.Forbiddenf("the invite is invalid, already used or expired")
		}
		return store.Outcome{}, federation.Errorf(federation.CodeLimitExceeded,
			"too many connections from %s (at most %d) or in all (at most %d) wait to be accepted", c.instanceURL, s.pendingPerOrigin, s.pendingTotal)
	case errors.As(err, &live):
		return store.Outcome{}, federation.Conflictf("a live connection to this instance exists")
	}
	return store.Outcome{}, err
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
	ctx = in.Traced(ctx)
	return incoming.Respond(ctx, nil, in, func() (store.Outcome, error) {
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
	ctx = in.Traced(ctx)
	return incoming.Respond(ctx, nil, in, func() (store.Outcome, error) {
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
