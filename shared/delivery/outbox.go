package delivery

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/identity"
	"github.com/fedgate/fedgate/shared/ids"
	"github.com/fedgate/fedgate/shared/queue"
	"github.com/fedgate/fedgate/shared/signing"
	"github.com/fedgate/fedgate/shared/store"
	"github.com/fedgate/fedgate/shared/trace"
)

// Crash safety (the "queued marker and sweeper" mechanism): a message that
// needs a job is written with an outbox marker in the same item, so storing
// the message and recording that its job is owed are one atomic write. The
// job is then sent and the marker cleared. If the process dies between the
// two, or SendMessage fails, the marker stays and the sweeper sends the job
// later. A job sent twice is harmless: it names the message, and the
// deliverer skips messages already delivered while the receiver de-duplicates
// by messageId, so a message is never sent as two different messages.

// Outbox queues jobs for stored messages.
type Outbox struct {
	msgs *store.Messages
	jobs *queue.Sender
	log  *slog.Logger
}

// NewOutbox returns an Outbox.
func NewOutbox(msgs *store.Messages, jobs *queue.Sender, log *slog.Logger) *Outbox {
	return &Outbox{msgs: msgs, jobs: jobs, log: log}
}

// Kick sends the job of a stored record that carries an outbox marker and
// clears the marker. A failure is logged, not returned: the record is safely
// stored and the sweeper will send its job.
func (o *Outbox) Kick(ctx context.Context, rec *store.MessageRecord) {
	if rec.Outbox == "" {
		return
	}
	job := queue.Job{WorkspaceID: rec.WorkspaceID, MessageID: rec.ID}
	if err := o.jobs.Send(ctx, rec.Outbox, job, 0); err != nil {
		o.log.WarnContext(ctx, "job not sent; the sweeper will send it", "messageId", rec.ID, "queue", rec.Outbox, "error", err.Error())
		return
	}
	if err := o.msgs.ClearOutbox(ctx, rec.WorkspaceID, rec.ID); err != nil {
		o.log.WarnContext(ctx, "outbox marker not cleared; the job may be sent twice", "messageId", rec.ID, "error", err.Error())
	}
}

// Create stores a record (with its outbox marker) and kicks its job.
func (o *Outbox) Create(ctx context.Context, rec *store.MessageRecord) error {
	if err := o.msgs.Create(ctx, rec); err != nil {
		return err
	}
	o.Kick(ctx, rec)
	return nil
}

// Sweep sends the jobs of records whose marker is older than grace (their
// writer crashed or could not reach SQS) and returns how many it sent.
func (o *Outbox) Sweep(ctx context.Context, now time.Time, grace time.Duration) (int, error) {
	recs, err := o.msgs.DueOutbox(ctx, now.Add(-grace), 100)
	if err != nil {
		return 0, err
	}
	sent := 0
	for _, rec := range recs {
		o.log.InfoContext(ctx, "sweeper re-sends a job", "messageId", rec.ID, "queue", rec.Outbox)
		o.Kick(ctx, rec)
		sent++
	}
	return sent, nil
}

// Signer signs envelopes as this instance.
type Signer struct {
	id  *identity.Service
	now func() time.Time
}

// NewSigner returns a Signer.
func NewSigner(id *identity.Service) *Signer { return &Signer{id: id, now: time.Now} }

// Sign builds and signs an envelope on the connection `to` (naming its
// remote instance as the recipient) with a fresh timestamp. Retries re-sign,
// so a message retried for hours is still within the receiver's 5-minute
// window; the messageId stays, so the receiver still de-duplicates.
func (s *Signer) Sign(ctx context.Context, to *federation.Connection, messageID, envType string, body any) ([]byte, error) {
	instanceID, err := s.id.ID(ctx)
	if err != nil {
		return nil, err
	}
	key, err := s.id.Signer(ctx)
	if err != nil {
		return nil, err
	}
	unsigned, err := federation.Merge(federation.Envelope{
		MessageID: messageID, Type: envType, InstanceID: instanceID, ToInstanceID: to.RemoteInstanceID, ToURL: to.RemoteURL,
		ConnectionID: to.ID, Timestamp: s.now().UnixMilli(), Traceparent: trace.Header(ctx),
	}, body)
	if err != nil {
		return nil, err
	}
	return signing.Sign(key, unsigned)
}

// Control prepares an outgoing control envelope (CONNECT_RESPONSE,
// DISCONNECT, COMMAND_RESPONSE) as a record owed to the delivery queue.
func Control(conn *federation.Connection, envType string, body any, now time.Time) (*store.MessageRecord, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", envType, err)
	}
	now = now.UTC()
	return store.NewRecord(federation.Message{
		ID: ids.New(), WorkspaceID: conn.WorkspaceID, ConnectionID: conn.ID, MessageType: envType,
		Direction: federation.Outbound, Status: federation.MsgPending, CreatedAt: now, UpdatedAt: now,
	}, envType, data, queue.Delivery), nil
}
