package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/trace"
)

// The messages table holds:
//   - messages:      pk "WS#<workspace>", sk "MSG#<id>" — the Message resource, and
//     for outgoing ones the envelope type and members to send. User-visible
//     messages carry typeKey/createdKey for the newest-first list by type.
//   - dedupe records: pk "IN#<connection>", sk "MSG#<messageId>" — the first answer
//     given to an incoming envelope that stores no message (answers.go).
// Sparse attributes put an item on the outbox index (a job still to be sent to
// a queue) or the deadline index (a command awaiting its response); outbox.go.

func msgSK(id string) string           { return "MSG#" + id }
func dedupePK(connID string) string    { return "IN#" + connID }
func heldKey(ws, connID string) string { return ws + "#" + connID }
func typeKey(ws, msgType string) string {
	return wsPK(ws) + "#" + msgType
}

const (
	outboxKey   = "OUTBOX"
	deadlineKey = "AWAITING"
)

// MessageRecord is a stored message: the Message resource plus what the
// instance needs to send or answer it.
type MessageRecord struct {
	federation.Message
	// EnvelopeType and Body are what an outgoing message sends: the envelope
	// type and its type-specific members.
	EnvelopeType string
	Body         []byte
	// Outbox names the queue a job for this message is still owed to ("" when
	// none is); see delivery.Outbox.
	Outbox   string
	outboxAt time.Time
	// Deadline is when a command awaiting its response times out.
	Deadline *time.Time
	// Answer is the first answer given to an incoming message, returned again
	// to duplicates.
	Answer *Outcome
	// DeadLetteredAt is set when the message's job reached a DLQ.
	DeadLetteredAt *time.Time
	// Held is how long its delivery waited without attempts (an open
	// circuit, a suspended peer): the retry horizon does not count it.
	Held time.Duration
	// HoldToken names the hold episode it is in ("" when none): only a job
	// that carries it may go on (delivery.Deliverer), so a release that sends
	// a new job leaves the old one stale.
	HoldToken string
	// HoldSince is when its hold episode began (zero when none).
	HoldSince time.Time
	// RunBefore is when an incoming COMMAND expires: the dispatcher does not
	// run it later (its expiresAt, or the receipt plus the command timeout).
	RunBefore time.Time
	// AttemptLog is the record of its delivery attempts, oldest first
	// (PROTOCOL.md §9); at most MaxAttemptLog are kept.
	AttemptLog []federation.Attempt
}

// MaxAttemptLog bounds the attempts kept per message (the first ones: the
// message's item must stay well within DynamoDB's 400 KB).
const MaxAttemptLog = 50

// Outcome is the first answer given to an incoming envelope, repeated to
// its duplicates. A signed answer is kept unsigned — its members, and the
// envelope type SignAs to sign them as — and signed afresh each time it is
// sent (incoming.Seal), so a late duplicate gets an answer still fresh.
type Outcome struct {
	Status int    `json:"status"`
	Body   string `json:"body"`
	SignAs string `json:"signAs,omitempty"`
}

// NewRecord prepares a record for m: an outgoing one sends envelopeType with
// body ("" and nil for none), and when queue is set a job for it is owed to
// that queue (the outbox marker) from m.CreatedAt.
func NewRecord(m federation.Message, envelopeType string, body []byte, queue string) *MessageRecord {
	rec := &MessageRecord{Message: m, EnvelopeType: envelopeType, Body: body}
	if queue != "" {
		rec.WithOutbox(queue, m.CreatedAt)
	}
	return rec
}

// WithOutbox puts the record on the outbox index: a job for it is owed to
// queue since at.
func (rec *MessageRecord) WithOutbox(queue string, at time.Time) *MessageRecord {
	rec.Outbox, rec.outboxAt = queue, at
	return rec
}

// WithDeadline puts the record on the deadline index.
func (rec *MessageRecord) WithDeadline(at time.Time) *MessageRecord {
	rec.Deadline = &at
	return rec
}

// messageItem is a message as stored; attribute names follow the Message
// resource's JSON names.
type messageItem struct {
	PK string `json:"pk"`
	SK string `json:"sk"`
	federation.Message
	EnvelopeType   string     `json:"envelopeType,omitempty"`
	Body           []byte     `json:"body,omitempty"`
	TypeKey        string     `json:"typeKey,omitempty"`
	CreatedKey     string     `json:"createdKey,omitempty"`
	OutboxKey      string     `json:"outboxKey,omitempty"`
	OutboxDue      string     `json:"outboxDue,omitempty"`
	OutboxQueue    string     `json:"outboxQueue,omitempty"`
	DeadlineKey    string     `json:"deadlineKey,omitempty"`
	DeadlineAt     string     `json:"deadlineAt,omitempty"`
	AnswerStatus   int        `json:"answerStatus,omitempty"`
	AnswerBody     string     `json:"answerBody,omitempty"`
	AnswerSignAs   string     `json:"answerSignAs,omitempty"`
	DeadLetteredAt *time.Time `json:"deadLetteredAt,omitempty"`
	HeldMs         int64      `json:"heldMs,omitempty"`
	HoldToken      string     `json:"holdToken,omitempty"`
	HoldSinceMs    int64      `json:"holdSinceMs,omitempty"`
	RunBeforeMs    int64      `json:"runBeforeMs,omitempty"`
	// HeldKey puts a held delivery on the held index by its connection
	// ("<workspace>#<connection>"), so a release finds it.
	HeldKey string `json:"heldKey,omitempty"`
	// AttemptLog is appended by the update that records each attempt's
	// outcome, so recording attempts costs no write of its own.
	AttemptLog []federation.Attempt `json:"attemptLog,omitempty"`
	ExpiresAt  int64                `json:"expiresAt"`
}

var jsonTags = func(o *attributevalue.EncoderOptions) { o.TagKey = "json" }
var jsonTagsDec = func(o *attributevalue.DecoderOptions) { o.TagKey = "json" }

// msTime renders a time as a fixed-width millisecond string, so string order
// is time order in sort keys.
func msTime(t time.Time) string { return fmt.Sprintf("%013d", t.UnixMilli()) }

func parseMS(s string) time.Time {
	var ms int64
	_, _ = fmt.Sscanf(s, "%d", &ms)
	return time.UnixMilli(ms).UTC()
}

func (r *Messages) item(rec *MessageRecord) messageItem {
	m := rec.Message
	it := messageItem{
		PK: wsPK(m.WorkspaceID), SK: msgSK(m.ID), Message: m, EnvelopeType: rec.EnvelopeType, Body: rec.Body,
		DeadLetteredAt: rec.DeadLetteredAt, HeldMs: rec.Held.Milliseconds(), ExpiresAt: m.CreatedAt.Add(r.lifetime(m.Direction)).Unix(),
		AttemptLog: rec.AttemptLog,
	}
	if !rec.RunBefore.IsZero() {
		it.RunBeforeMs = rec.RunBefore.UnixMilli()
	}
	switch m.MessageType {
	case federation.TypeQuery, federation.TypeCommand, federation.TypeEvent, federation.TypePublished:
		it.TypeKey = typeKey(m.WorkspaceID, m.MessageType)
		it.CreatedKey = msTime(m.CreatedAt) + "#" + m.ID
	}
	if rec.Outbox != "" {
		it.OutboxKey, it.OutboxDue, it.OutboxQueue = outboxKey, msTime(rec.outboxAt), rec.Outbox
	}
	if rec.Deadline != nil {
		it.DeadlineKey, it.DeadlineAt = deadlineKey, msTime(*rec.Deadline)
	}
	if rec.Answer != nil {
		it.AnswerStatus, it.AnswerBody, it.AnswerSignAs = rec.Answer.Status, rec.Answer.Body, rec.Answer.SignAs
	}
	return it
}

// lifetime is how long a message lives: incoming ones keep the first answer
// to their envelope, so they live as long as de-duplication needs.
func (r *Messages) lifetime(direction string) time.Duration {
	if direction == federation.Inbound {
		return max(r.retention.Messages, r.retention.Answers)
	}
	return r.retention.Messages
}

func (it messageItem) record() *MessageRecord {
	rec := &MessageRecord{
		Message: it.Message, EnvelopeType: it.EnvelopeType, Body: it.Body, Outbox: it.OutboxQueue,
		DeadLetteredAt: it.DeadLetteredAt, Held: time.Duration(it.HeldMs) * time.Millisecond, AttemptLog: it.AttemptLog,
		HoldToken: it.HoldToken,
	}
	if it.OutboxDue != "" {
		rec.outboxAt = parseMS(it.OutboxDue)
	}
	if it.HoldSinceMs != 0 {
		rec.HoldSince = time.UnixMilli(it.HoldSinceMs).UTC()
	}
	if it.RunBeforeMs != 0 {
		rec.RunBefore = time.UnixMilli(it.RunBeforeMs).UTC()
	}
	if it.DeadlineAt != "" {
		d := parseMS(it.DeadlineAt)
		rec.Deadline = &d
	}
	if it.AnswerStatus != 0 {
		rec.Answer = &Outcome{Status: it.AnswerStatus, Body: it.AnswerBody, SignAs: it.AnswerSignAs}
	}
	return rec
}

func decodeMessage(raw map[string]types.AttributeValue) (*MessageRecord, error) {
	var it messageItem
	if err := attributevalue.UnmarshalMapWithOptions(raw, &it, jsonTagsDec); err != nil {
		return nil, fmt.Errorf("decode message: %w", err)
	}
	return it.record(), nil
}

// Messages is the repository of the messages table.
type Messages struct {
	db        *dynamodb.Client
	table     string
	retention Retention
	now       func() time.Time
}

func (r *Messages) put(ctx context.Context, rec *MessageRecord) (*types.Put, error) {
	stamp(ctx, rec)
	item, err := attributevalue.MarshalMapWithOptions(r.item(rec), jsonTags)
	if err != nil {
		return nil, fmt.Errorf("encode message: %w", err)
	}
	if n := itemSize(item); n > maxItemSize {
		return nil, fmt.Errorf("message %s is %d bytes: %w", rec.ID, n, ErrTooLarge)
	}
	return &types.Put{TableName: &r.table, Item: item, ConditionExpression: aws.String("attribute_not_exists(pk)")}, nil
}

// stamp gives a new message the trace it is made in (PROTOCOL.md §9), so
// the work it causes later — its delivery, the answer to it — continues
// that trace.
func stamp(ctx context.Context, rec *MessageRecord) {
	if rec.TraceID == "" {
		rec.TraceID = trace.From(ctx).ID()
	}
	if rec.RemoteTraceID == "" {
		rec.RemoteTraceID = trace.Remote(ctx).ID()
	}
}

// CreateWrite is the Write that creates rec in another repository's
// transaction (a connection change and the notice that tells the peer).
func (r *Messages) CreateWrite(ctx context.Context, rec *MessageRecord) (Write, error) {
	p, err := r.put(ctx, rec)
	if err != nil {
		return Write{}, err
	}
	return Write{types.TransactWriteItem{Put: p}}, nil
}

// Create stores a new message; ErrExists if its id is taken in the workspace
// (but not by this call's own first attempt: see putOnce).
func (r *Messages) Create(ctx context.Context, rec *MessageRecord) error {
	p, err := r.put(ctx, rec)
	if err != nil {
		return err
	}
	err = putOnce(ctx, r.db, &dynamodb.PutItemInput{TableName: p.TableName, Item: p.Item, ConditionExpression: p.ConditionExpression})
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		return fmt.Errorf("message %s: %w", rec.ID, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("put message: %w", err)
	}
	return nil
}

// Get returns a workspace's message; ErrNotFound for another workspace's id.
func (r *Messages) Get(ctx context.Context, ws, id string) (*MessageRecord, error) {
	var it messageItem
	if err := getItem(ctx, r.db, r.table, key(wsPK(ws), msgSK(id)), &it, "message "+id, true); err != nil {
		return nil, err
	}
	return it.record(), nil
}

// MessageUpdate changes a message. Nil members are left alone.
type MessageUpdate struct {
	// Step is the lifecycle step (federation.Step*): which statuses the
	// message may have, and its status after. The zero Step is StepNote.
	Step           federation.Step
	Attempts       *int
	NextAttemptAt  *time.Time
	ClearNext      bool
	Error          *string
	Response       *federation.Response
	DeliveredAt    *time.Time
	CompletedAt    *time.Time
	ClearOutbox    bool
	ClearDeadline  bool
	ClearDelivered bool       // the delivery is to be attempted again
	Deadline       *time.Time // puts the message on the deadline index
	Held           *time.Duration
	// Hold starts (or renews) a hold episode named by the token: the
	// message goes on the held index of its connection HoldOn. EndHold
	// takes it off (the episode ended with an attempt, or it settled).
	Hold, HoldOn string
	EndHold      bool
	// Attempt is appended to the message's attempt log.
	Attempt *federation.Attempt
	// AttemptsWere requires the message to have had this many attempts: the
	// outcome of an attempt is recorded only by the one that made it, not by
	// a duplicate job that attempted it at the same time.
	AttemptsWere *int
	// Outbox queues a job for the item again (e.g. a response to send).
	Outbox         string
	DeadLetteredAt *time.Time
}

// Update applies u if the message's status allows it; ErrConflict otherwise
// (with the current record), ErrNotFound if it does not exist.
func (r *Messages) Update(ctx context.Context, ws, id string, mu MessageUpdate) (*MessageRecord, error) {
	now := r.now().UTC()
	upd := r.buildUpdate(ws, id, mu, now)
	if n := itemSize(upd.ExpressionAttributeValues); n > maxItemSize/2 {
		return nil, fmt.Errorf("update of message %s sets %d bytes: %w", id, n, ErrTooLarge)
	}
	var w retries
	out, err := r.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: upd.TableName, Key: upd.Key, UpdateExpression: upd.UpdateExpression, ConditionExpression: upd.ConditionExpression,
		ExpressionAttributeNames: upd.ExpressionAttributeNames, ExpressionAttributeValues: upd.ExpressionAttributeValues,
		ReturnValues: types.ReturnValueAllNew, ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}, w.watch)
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		if len(failed.Item) == 0 {
			// Gone, or (rarely) back between the check and this read.
			current, gerr := r.Get(ctx, ws, id)
			if gerr != nil {
				return nil, gerr
			}
			return current, fmt.Errorf("message %s is %s: %w", id, current.Status, ErrConflict)
		}
		current, derr := decodeMessage(failed.Item)
		if derr != nil {
			return nil, derr
		}
		// A retried call whose first attempt was applied (its answer lost)
		// finds the item stamped with this update's updatedAt: it is done.
		if stamp, _ := attributevalue.Marshal(now); w.mayHaveApplied && reflect.DeepEqual(failed.Item["updatedAt"], stamp) {
			return current, nil
		}
		return current, fmt.Errorf("message %s is %s: %w", id, current.Status, ErrConflict)
	}
	if err != nil {
		return nil, fmt.Errorf("update message: %w", err)
	}
	return decodeMessage(out.Attributes)
}

// buildUpdate stamps the item with updatedAt now (to the nanosecond, which
// also tells a retried Update that its first attempt was applied).
func (r *Messages) buildUpdate(ws, id string, mu MessageUpdate, now time.Time) *types.Update {
	step := mu.Step
	if step.Name == "" {
		step = federation.StepNote
	}
	u := newUpdate().set("updatedAt", now)
	if step.To != "" {
		u.set("status", step.To)
	}
	if mu.Attempts != nil {
		u.set("attempts", *mu.Attempts)
	}
	u.setIf(mu.NextAttemptAt != nil, "nextAttemptAt", mu.NextAttemptAt)
	if mu.ClearNext {
		u.remove("nextAttemptAt")
	}
	u.setIf(mu.Error != nil, "error", ptrVal(mu.Error))
	u.setIf(mu.Response != nil, "response", mu.Response)
	u.setIf(mu.DeliveredAt != nil, "deliveredAt", mu.DeliveredAt)
	u.setIf(mu.CompletedAt != nil, "completedAt", mu.CompletedAt)
	u.setIf(mu.DeadLetteredAt != nil, "deadLetteredAt", mu.DeadLetteredAt)
	if mu.ClearOutbox {
		u.remove("outboxKey").remove("outboxDue").remove("outboxQueue")
	}
	if mu.Outbox != "" {
		u.set("outboxKey", outboxKey).set("outboxDue", msTime(now)).set("outboxQueue", mu.Outbox)
	}
	if mu.ClearDeadline {
		u.remove("deadlineKey").remove("deadlineAt")
	}
	if mu.Deadline != nil {
		u.set("deadlineKey", deadlineKey).set("deadlineAt", msTime(*mu.Deadline))
	}
	if mu.ClearDelivered {
		u.remove("deliveredAt")
	}
	if mu.Held != nil {
		u.set("heldMs", mu.Held.Milliseconds())
	}
	if mu.Hold != "" {
		u.set("holdToken", mu.Hold).set("heldKey", heldKey(ws, mu.HoldOn)).setFirst("holdSinceMs", now.UnixMilli())
	}
	if mu.EndHold {
		u.remove("holdToken").remove("heldKey").remove("holdSinceMs")
	}
	if mu.Attempt != nil {
		u.appendTo("attemptLog", []federation.Attempt{*mu.Attempt})
	}
	if mu.AttemptsWere != nil {
		u.cond("(attribute_not_exists({attempts}) OR {attempts} = ?)", *mu.AttemptsWere)
	}
	// Never applied twice: the retry of an applied attempt (whose answer was
	// lost) fails here even when the status condition still holds, so an
	// attempt is not logged twice; Update then finds its own stamp.
	u.cond("attribute_exists(pk)").cond("(attribute_not_exists({updatedAt}) OR {updatedAt} <> ?)", now)
	if len(step.From) == 0 {
		// A step narrowed to nothing (Step.Only) applies to no message.
		u.cond("attribute_not_exists(pk)")
	} else {
		in(u, "status", step.From)
	}
	expr, cond, names, values := u.build()
	return &types.Update{
		TableName: &r.table, Key: key(wsPK(ws), msgSK(id)), UpdateExpression: &expr, ConditionExpression: cond,
		ExpressionAttributeNames: names, ExpressionAttributeValues: values,
	}
}

// UpdateWith applies mu and creates recs in one transaction: a message's
// new state and the messages it causes (a COMMAND_RESPONSE, say) are stored
// together or not at all. ErrConflict if mu's condition fails or a rec exists.
func (r *Messages) UpdateWith(ctx context.Context, ws, id string, mu MessageUpdate, recs ...*MessageRecord) error {
	upd := r.buildUpdate(ws, id, mu, r.now().UTC())
	items := []types.TransactWriteItem{{Update: upd}}
	for _, rec := range recs {
		p, err := r.put(ctx, rec)
		if err != nil {
			return err
		}
		items = append(items, types.TransactWriteItem{Put: p})
	}
	_, err := r.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	var cancelled *types.TransactionCanceledException
	if errors.As(err, &cancelled) {
		return fmt.Errorf("message %s: %w", id, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("update message %s: %w", id, err)
	}
	return nil
}

func ptrVal(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
