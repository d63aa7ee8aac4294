package connections

import (
	"context"
	"encoding/json"
	"time"

	"github.com/fedgate/fedgate/shared/delivery"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/identity"
	"github.com/fedgate/fedgate/shared/ids"
	"github.com/fedgate/fedgate/shared/store"
)

// Invite is a single-use token that makes the next CONNECT carrying it land
// ACTIVE in the inviting workspace.
type Invite struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// InviteInput is the optional body of an invite request.
type InviteInput struct {
	ExpiresInSeconds *int `json:"expiresInSeconds"`
}

// Invite creates an invite to workspace ws by user sub.
func (s *Service) Invite(ctx context.Context, ws, sub string, in InviteInput) (*Invite, error) {
	ttl := 900
	if in.ExpiresInSeconds != nil {
		ttl = *in.ExpiresInSeconds
		if ttl < 60 || ttl > 86400 {
			return nil, federation.Invalidf("expiresInSeconds must be from 60 to 86400")
		}
	}
	inv := &Invite{Token: ids.Token(24), ExpiresAt: s.now().UTC().Add(time.Duration(ttl) * time.Second)}
	if err := s.invites.Create(ctx, inv.Token, ws, sub, inv.ExpiresAt); err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "invite created", "expiresAt", inv.ExpiresAt)
	return inv, nil
}

// List returns a workspace's connections, newest first, optionally only
// those with status.
func (s *Service) List(ctx context.Context, ws string, status federation.ConnStatus, limit int32, cursor string) (store.Page[federation.Connection], error) {
	return s.connections.List(ctx, ws, status, limit, cursor)
}

// Get returns one of the workspace's connections.
func (s *Service) Get(ctx context.Context, ws, id string) (*federation.Connection, error) {
	return s.connections.Get(ctx, ws, id)
}

// ChangeInput is the optional body of a connection change.
type ChangeInput struct {
	Reason   string          `json:"reason"`
	Metadata json.RawMessage `json:"metadata"`
}

// notice builds the envelope that tells the peer about a change.
type notice func(in ChangeInput, self identity.Document) (string, any)

// transition describes one user-driven change of a connection.
type transition struct {
	to          federation.ConnStatus
	direction   string
	from        []federation.ConnStatus
	needsReason bool
	notice      notice
}

// Accept accepts an INBOUND PENDING connection and sends CONNECT_RESPONSE accepted=true.
func (s *Service) Accept(ctx context.Context, ws, id string, in ChangeInput) (*federation.Connection, error) {
	return s.change(ctx, ws, id, in, transition{to: federation.StatusActive, direction: federation.Inbound,
		from: []federation.ConnStatus{federation.StatusPending}, notice: connectResponse(true)})
}

// Reject rejects an INBOUND connection and sends CONNECT_RESPONSE accepted=false.
func (s *Service) Reject(ctx context.Context, ws, id string, in ChangeInput) (*federation.Connection, error) {
	return s.change(ctx, ws, id, in, transition{to: federation.StatusRejected, direction: federation.Inbound,
		needsReason: true, notice: connectResponse(false)})
}

// Disconnect ends a connection and sends DISCONNECT.
func (s *Service) Disconnect(ctx context.Context, ws, id string, in ChangeInput) (*federation.Connection, error) {
	return s.change(ctx, ws, id, in, transition{to: federation.StatusDisconnected,
		notice: func(in ChangeInput, _ identity.Document) (string, any) {
			return federation.EnvDisconnect, federation.DisconnectBody{Reason: in.Reason}
		}})
}

// Suspend stops a connection locally: it accepts and sends nothing.
func (s *Service) Suspend(ctx context.Context, ws, id string, in ChangeInput) (*federation.Connection, error) {
	conn, err := s.change(ctx, ws, id, in, transition{to: federation.StatusSuspended})
	if err == nil && s.operators != nil {
		reason := "suspended by a user"
		if in.Reason != "" {
			reason += ": " + in.Reason
		}
		s.operators.Suspended(ctx, conn, reason)
	}
	return conn, err
}

// Resume makes a SUSPENDED connection ACTIVE again with fresh peer health;
// the two sides then converge: subscriptions are synced and the peer gets
// what it missed since the suspension.
func (s *Service) Resume(ctx context.Context, ws, id string, in ChangeInput) (*federation.Connection, error) {
	conn, err := s.change(ctx, ws, id, in, transition{to: federation.StatusActive, from: []federation.ConnStatus{federation.StatusSuspended}})
	if err != nil {
		return conn, err
	}
	if s.operators != nil {
		s.operators.Peer(ctx, conn, federation.OpConnectionResumed)
	}
	if s.resumptions == nil {
		return conn, nil
	}
	since := conn.UpdatedAt
	if conn.SuspendedAt != nil {
		since = *conn.SuspendedAt
	}
	if err := s.resumptions.Resumed(ctx, conn, since); err != nil {
		// Resumed all the same; the daily sync and a replay can do the rest.
		s.log.WarnContext(ctx, "catch-up after resume failed", "connectionId", id, "error", err.Error())
	}
	return conn, nil
}

func connectResponse(accepted bool) notice {
	return func(in ChangeInput, doc identity.Document) (string, any) {
		caps, _ := json.Marshal(doc.Capabilities)
		return federation.EnvConnectResponse, federation.ConnectResponseBody{
			Accepted: accepted, Reason: in.Reason, PublicKey: doc.PublicKey, Capabilities: caps,
		}
	}
}

// change moves the connection with one conditional write; for changes the
// peer must hear about, the notice to send is written in the same transaction.
func (s *Service) change(ctx context.Context, ws, id string, in ChangeInput, t transition) (*federation.Connection, error) {
	var v federation.Checks
	v.Check(len(in.Reason) <= MaxReasonLen, "reason", "must be at most 500 characters")
	v.Object("metadata", in.Metadata)
	if t.needsReason {
		v.Required("reason", in.Reason)
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	conn, err := s.connections.Get(ctx, ws, id)
	if err != nil {
		return nil, err
	}
	ch := store.ConnectionChange{To: t.to, From: t.from, Direction: t.direction, Metadata: in.Metadata}
	if in.Reason != "" {
		ch.Reason = &in.Reason
	}
	if t.to == federation.StatusActive {
		if conn.Status == federation.StatusPending {
			now := s.now().UTC()
			ch.ConnectedAt = &now
		} else {
			ch.ResetHealth = true // resume
		}
	}
	var rec *store.MessageRecord
	if t.notice != nil {
		self, err := s.identity.Document(ctx)
		if err != nil {
			return nil, err
		}
		envType, body := t.notice(in, self)
		if rec, err = delivery.Control(conn, envType, body, s.now()); err != nil {
			return nil, err
		}
		w, err := s.messages.CreateWrite(ctx, rec)
		if err != nil {
			return nil, err
		}
		ch.Also = []store.Write{w}
	}
	updated, err := s.connections.Transition(ctx, ws, id, ch)
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "connection changed", "connectionId", id, "status", updated.Status)
	if rec != nil {
		s.outbox.Kick(ctx, rec)
	}
	return updated, nil
}
