// Package operations records operator events (PROTOCOL.md §8–9): what the
// people who run the instance must see — a peer suspended or resumed, a
// delivery that exhausted its retries, a peer failing or recovered, a key
// rotated. They stay on the instance: recorded (listed per workspace and for
// the whole instance), counted as a metric that alarms watch, never sent to
// peers.
package operations

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/ids"
	"github.com/fedgate/fedgate/shared/metrics"
	"github.com/fedgate/fedgate/shared/store"
)

// MetricName is the metric every operator event counts in (dimension Type).
const MetricName = "OperatorEvents"

// Service records operator events.
type Service struct {
	ops     *store.Operations
	metrics *metrics.Recorder
	log     *slog.Logger
	now     func() time.Time
}

// New returns the service.
func New(ops *store.Operations, m *metrics.Recorder, log *slog.Logger) *Service {
	return &Service{ops: ops, metrics: m, log: log, now: time.Now}
}

// Record stores an operator event and counts it. Recording is best effort
// for the caller (a failure is logged): the work that caused it went on.
func (s *Service) Record(ctx context.Context, op federation.Operation) {
	if op.ID == "" {
		op.ID = ids.New()
	}
	if op.At.IsZero() {
		op.At = s.now().UTC()
	}
	s.metrics.Count(MetricName, "Type", op.Type)
	s.log.WarnContext(ctx, "operator event", "event", op.Type, "workspaceId", op.WorkspaceID, "connectionId", op.ConnectionID, "messageId", op.MessageID)
	if err := s.ops.Record(ctx, op); err != nil {
		s.log.ErrorContext(ctx, "operator event not recorded", "event", op.Type, "error", err.Error())
	}
}

// Suspended records that a peer was suspended for its health.
func (s *Service) Suspended(ctx context.Context, conn *federation.Connection, reason string) {
	detail, _ := json.Marshal(map[string]string{"remoteInstanceId": conn.RemoteInstanceID, "remoteUrl": conn.RemoteURL, "reason": reason})
	s.Record(ctx, federation.Operation{Type: federation.OpConnectionSuspended, WorkspaceID: conn.WorkspaceID, ConnectionID: conn.ID, Detail: detail})
}

// Peer records something about a peer on a connection: it started failing
// (its circuit opened), recovered, or was resumed.
func (s *Service) Peer(ctx context.Context, conn *federation.Connection, opType string) {
	detail, _ := json.Marshal(map[string]any{"remoteInstanceId": conn.RemoteInstanceID, "remoteUrl": conn.RemoteURL,
		"consecutiveFailures": conn.Health.ConsecutiveFailures})
	s.Record(ctx, federation.Operation{Type: opType, WorkspaceID: conn.WorkspaceID, ConnectionID: conn.ID, Detail: detail})
}

// KeyRotated records that this instance's signing key was rotated
// (an instance-wide event).
func (s *Service) KeyRotated(ctx context.Context, newKeyID string) {
	detail, _ := json.Marshal(map[string]string{"keyId": newKeyID})
	s.Record(ctx, federation.Operation{Type: federation.OpKeyRotated, Detail: detail})
}

// Exhausted records that a message's job reached a dead-letter queue.
func (s *Service) Exhausted(ctx context.Context, rec *store.MessageRecord) {
	detail, _ := json.Marshal(map[string]string{"type": rec.MessageType, "error": rec.Error})
	s.Record(ctx, federation.Operation{Type: federation.OpDeliveryExhausted, WorkspaceID: rec.WorkspaceID,
		ConnectionID: rec.ConnectionID, MessageID: rec.ID, Detail: detail})
}

// JobExhausted records that a job with no message of its own (a replay or
// catch-up of a connection) reached a dead-letter queue: what it would have
// sent never went, and an operator must know to replay it.
func (s *Service) JobExhausted(ctx context.Context, ws, connID, kind string, since, until time.Time) {
	detail, _ := json.Marshal(map[string]string{"job": kind, "since": since.UTC().Format(time.RFC3339), "until": until.UTC().Format(time.RFC3339)})
	s.Record(ctx, federation.Operation{Type: federation.OpDeliveryExhausted, WorkspaceID: ws, ConnectionID: connID, Detail: detail})
}

// List returns operator events newest first: a workspace's, or the
// instance's when ws is "".
func (s *Service) List(ctx context.Context, ws string, limit int32, cursor string) (store.Page[federation.Operation], error) {
	return s.ops.List(ctx, ws, limit, cursor)
}
