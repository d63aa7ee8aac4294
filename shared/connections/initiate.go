package connections

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/identity"
	"github.com/fedgate/fedgate/shared/ids"
	"github.com/fedgate/fedgate/shared/peer"
	"github.com/fedgate/fedgate/shared/store"
)

// InitiateInput is a user's request to connect to a remote instance.
type InitiateInput struct {
	RemoteURL   string          `json:"remoteUrl"`
	InviteToken string          `json:"inviteToken"`
	Metadata    json.RawMessage `json:"metadata"`
}

// Initiate fetches the peer's identity, stores an OUTBOUND PENDING
// connection and sends the peer a signed CONNECT. With an invite the peer
// answers with its signed CONNECT_RESPONSE and the connection is ACTIVE at once.
func (s *Service) Initiate(ctx context.Context, ws string, in InitiateInput) (*federation.Connection, error) {
	var v federation.Checks
	v.Required("remoteUrl", in.RemoteURL)
	v.Check(len(in.InviteToken) <= 200, "inviteToken", "must be at most 200 characters")
	v.Object("metadata", in.Metadata)
	if err := v.Err(); err != nil {
		return nil, err
	}
	remote, err := s.peers.NormalizeURL(ctx, in.RemoteURL)
	if err != nil {
		return nil, federation.Invalidf("remoteUrl: %v", err)
	}
	doc, err := s.peers.FetchInstance(ctx, remote)
	if err != nil {
		return nil, peer.Failure(err)
	}
	self, err := s.identity.Document(ctx)
	if err != nil {
		return nil, err
	}
	if doc.InstanceID == self.InstanceID {
		return nil, federation.Invalidf("remoteUrl is this instance")
	}
	caps, _ := json.Marshal(doc.Capabilities)
	now := s.now().UTC()
	conn := &federation.Connection{
		ID: ids.New(), WorkspaceID: ws, RemoteInstanceID: doc.InstanceID, RemoteURL: remote,
		RemoteName: doc.Name, Direction: federation.Outbound, Status: federation.StatusPending,
		RemoteCapabilities: caps, Metadata: in.Metadata, RemoteKeys: doc.RemoteKeys(), KeysFetchedAt: now,
		CreatedAt: now, UpdatedAt: now,
	}
	if err := s.connections.Create(ctx, conn); err != nil {
		return nil, err
	}
	return s.sendConnect(ctx, conn, self, in.InviteToken)
}

// sendConnect posts the signed CONNECT for a stored OUTBOUND PENDING
// connection and applies the peer's answer; a connection whose CONNECT
// failed is closed again.
func (s *Service) sendConnect(ctx context.Context, conn *federation.Connection, self identity.Document, inviteToken string) (*federation.Connection, error) {
	selfCaps, _ := json.Marshal(self.Capabilities)
	keys := make([]federation.RemoteKey, len(self.PublicKeys))
	for i, k := range self.PublicKeys {
		keys[i] = federation.RemoteKey{KeyID: k.KeyID, Alg: k.Alg, PublicKey: k.PublicKey, Status: k.Status}
	}
	envelope, err := s.signer.Sign(ctx, conn, ids.New(), federation.EnvConnect, federation.ConnectBody{
		InstanceURL: s.instanceURL, Name: self.Name, PublicKey: self.PublicKey, PublicKeys: keys,
		Capabilities: selfCaps, InviteToken: inviteToken,
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "sending CONNECT", "connectionId", conn.ID, "remoteInstanceId", conn.RemoteInstanceID)
	reply, err := s.peers.Post(ctx, conn.RemoteURL, "/incoming/connect", envelope)
	if err != nil {
		s.abandon(ctx, conn, "CONNECT failed: "+err.Error())
		return nil, peer.Failure(err)
	}
	switch reply.Status {
	case http.StatusAccepted:
		return conn, nil
	case http.StatusOK:
		// An invite auto-accepted: the body is the signed CONNECT_RESPONSE.
		var resp federation.ConnectResponseBody
		err := s.verifier.VerifyAnswer(ctx, conn, federation.ExpectedAnswer{Type: federation.EnvConnectResponse}, reply.Body, &resp)
		var updated *federation.Connection
		if err == nil {
			updated, err = s.applyConnectResponse(ctx, conn, resp)
		}
		if err != nil {
			s.abandon(ctx, conn, "invalid CONNECT_RESPONSE")
			return nil, federation.Errorf(federation.CodeRemoteRejected, "peer's CONNECT_RESPONSE: %v", err)
		}
		return updated, nil
	case http.StatusForbidden:
		_, msg := peer.ErrorCode(reply.Body)
		s.abandon(ctx, conn, reply.Describe())
		return nil, federation.Forbiddenf("the remote instance refused the connection: %s", msg)
	}
	s.abandon(ctx, conn, reply.Describe())
	return nil, reply.Rejected()
}

// abandon closes a connection whose CONNECT failed.
func (s *Service) abandon(ctx context.Context, conn *federation.Connection, reason string) {
	if _, err := s.connections.Transition(ctx, conn.WorkspaceID, conn.ID, store.ConnectionChange{
		To: federation.StatusDisconnected, Reason: &reason,
	}); err != nil {
		s.log.WarnContext(ctx, "could not close the failed connection", "connectionId", conn.ID, "error", err.Error())
	}
}

// applyConnectResponse moves an OUTBOUND PENDING connection to ACTIVE or
// REJECTED after a verified CONNECT_RESPONSE. Applying the same answer twice
// is harmless.
func (s *Service) applyConnectResponse(ctx context.Context, conn *federation.Connection, resp federation.ConnectResponseBody) (*federation.Connection, error) {
	reason := federation.Truncate(resp.Reason, MaxReasonLen)
	ch := store.ConnectionChange{To: federation.StatusRejected, Direction: federation.Outbound, Reason: &reason}
	if resp.Accepted {
		now := s.now().UTC()
		ch = store.ConnectionChange{To: federation.StatusActive, Direction: federation.Outbound, ConnectedAt: &now, RemoteCapabilities: resp.Capabilities}
	}
	if conn.Status == ch.To {
		return conn, nil
	}
	updated, err := s.connections.Transition(ctx, conn.WorkspaceID, conn.ID, ch)
	if errors.Is(err, store.ErrConflict) && updated != nil && updated.Status == ch.To {
		return updated, nil // applied concurrently
	}
	return updated, err
}
