package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/fedgate/fedgate/shared/federation"
)

// The messages table holds:
//   - messages:      pk "WS#<workspace>", sk "MSG#<id>" — the Message resource, and
//     for outgoing ones the envelope type and members to send. User-visible
//     messages carry typeKey/createdKey for the newest-first list by type.
//   - dedupe records: pk "IN#<connection>", sk "MSG#<messageId>" — the first answer
//     given to an incoming envelope, returned again to duplicates.
// Sparse attributes put an item on the outbox index (a job still to be sent to
// a queue) or the deadline index (a command awaiting its response).

func msgSK(id string) string        { return "MSG#" + id }
func dedupePK(connID string) string { return "IN#" + connID }

// OutboxMarker is the attribute value that puts an item on the outbox index.
const outboxKey = "OUTBOX"
const deadlineKey = "AWAITING"

// MessageRecord is a stored message.
type MessageRecord struct {
	PK string `json:"pk"`
	SK string `json:"sk"`
	federation.Message
	// EnvelopeType and Body are what an outgoing message sends: the envelope
	// type and its type-specific members.
	EnvelopeType string `json:"envelopeType,omitempty"`
	Body         []byte `json:"body,omitempty"`
	// User-visible list index.
	TypeKey    string `json:"typeKey,omitempty"`
	CreatedKey string `json:"createdKey,omitempty"`
	// Outbox: the queue a job for this item must still reach.
	OutboxKey   string `json:"outboxKey,omitempty"`
	OutboxDue   string `json:"outboxDue,omitempty"`
	OutboxQueue string `json:"outboxQueue,omitempty"`
	// Deadline of a command awaiting its response.
	DeadlineKey string `json:"deadlineKey,omitempty"`
	DeadlineAt  string `json:"deadlineAt,omitempty"`
	// AnswerStatus and AnswerBody are the first answer given to an incoming
	// message, returned again to duplicates.
	AnswerStatus int    `json:"answerStatus,omitempty"`
	AnswerBody   string `json:"answerBody,omitempty"`
	// DeadLetteredAt is set when the delivery job reached a DLQ.
	DeadLetteredAt *time.Time `json:"deadLetteredAt,omitempty"`
	ExpiresAt      int64      `json:"expiresAt"`
}

// Answer is the first response given to an incoming envelope.
type Answer struct {
	Status int    `json:"status"`
	Body   string `json:"body"`
}

var jsonTags = func(o *attributevalue.EncoderOptions) { o.TagKey = "json" }
var jsonTagsDec = func(o *attributevalue.DecoderOptions) { o.TagKey = "json" }

// msTime renders a time as a fixed-width millisecond string, so string order
// is time order in sort keys.
func msTime(t time.Time) string { return fmt.Sprintf("%013d", t.UnixMilli()) }

// Messages is the repository of the messages table.
type Messages struct {
	db        *dynamodb.Client
	table     string
	retention time.Duration
	now       func() time.Time
}

// NewMessages returns the repository; items expire after retention.
func NewMessages(db *dynamodb.Client, table string, retention time.Duration) *Messages {
	return &Messages{db: db, table: table, retention: retention, now: time.Now}
}

// NewRecord prepares a record for m: keys, list index (for QUERY, COMMAND
// and EVENT), expiry, and, if queue is set, the outbox marker.
func (r *Messages) NewRecord(m federation.Message, envelopeType string, body []byte, queue string) *MessageRecord {
	rec := &MessageRecord{
		PK: wsPK(m.WorkspaceID), SK: msgSK(m.ID), Message: m, EnvelopeType: envelopeType, Body: body,
		ExpiresAt: m.CreatedAt.Add(r.retention).Unix(),
	}
	switch m.MessageType {
	case federation.TypeQuery, federation.TypeCommand, federation.TypeEvent:
		rec.TypeKey = wsPK(m.WorkspaceID) + "#" + m.MessageType
		rec.CreatedKey = msTime(m.CreatedAt) + "#" + m.ID
	}
	if queue != "" {
		rec.WithOutbox(queue, m.CreatedAt)
	}
	return rec
}

// WithOutbox puts the record on the outbox index: a job for it is owed to queue.
func (rec *MessageRecord) WithOutbox(queue string, at time.Time) *MessageRecord {
	rec.OutboxKey, rec.OutboxDue, rec.OutboxQueue = outboxKey, msTime(at), queue
	return rec
}

// WithDeadline puts the record on the deadline index.
func (rec *MessageRecord) WithDeadline(at time.Time) *MessageRecord {
	rec.DeadlineKey, rec.DeadlineAt = deadlineKey, msTime(at)
	return rec
}

func (r *Messages) put(rec *MessageRecord) (*types.Put, error) {
	item, err := attributevalue.MarshalMapWithOptions(rec, jsonTags)
	if err != nil {
		return nil, fmt.Errorf("encode message: %w", err)
	}
	return &types.Put{TableName: &r.table, Item: item, ConditionExpression: aws.String("attribute_not_exists(pk)")}, nil
}

// PutItem is the transaction item that creates rec (see Change.Extra).
func (r *Messages) PutItem(rec *MessageRecord) (types.TransactWriteItem, error) {
	p, err := r.put(rec)
	if err != nil {
		return types.TransactWriteItem{}, err
	}
	return types.TransactWriteItem{Put: p}, nil
}

// AnswerItem is the transaction item that records the first answer to an
// incoming envelope; it fails if one is recorded already.
func (r *Messages) AnswerItem(connID, messageID string, answer Answer) types.TransactWriteItem {
	return types.TransactWriteItem{Put: &types.Put{TableName: &r.table, Item: map[string]types.AttributeValue{
		"pk": s(dedupePK(connID)), "sk": s(msgSK(messageID)),
		"status":    &types.AttributeValueMemberN{Value: strconv.Itoa(answer.Status)},
		"body":      s(answer.Body),
		"expiresAt": &types.AttributeValueMemberN{Value: strconv.FormatInt(r.now().Add(r.dedupeTTL()).Unix(), 10)},
	}, ConditionExpression: aws.String("attribute_not_exists(pk)")}}
}

// Create stores a new message; ErrExists if its id is taken in the workspace.
func (r *Messages) Create(ctx context.Context, rec *MessageRecord) error {
	p, err := r.put(rec)
	if err != nil {
		return err
	}
	_, err = r.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: p.TableName, Item: p.Item, ConditionExpression: p.ConditionExpression})
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		return fmt.Errorf("message %s: %w", rec.ID, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("put message: %w", err)
	}
	return nil
}

// ErrDuplicate is returned by CreateIncoming when the envelope was seen
// before on the connection; the first answer comes with it.
type ErrDuplicate struct{ First Answer }

func (e *ErrDuplicate) Error() string { return "duplicate message" }

// CreateIncoming stores the first answer to an incoming envelope, together
// with the incoming message rec when there is one. The answer lives in the
// message item itself, so one conditional write stores both atomically
// (no transaction: moto copies whole tables for each one, and one write is
// cheaper in DynamoDB too). Without a message, a de-duplication record keeps
// the answer. A duplicate (same connection and messageId) gets *ErrDuplicate
// with the first answer; the same id from another connection gets ErrExists.
func (r *Messages) CreateIncoming(ctx context.Context, ws, connID, messageID string, rec *MessageRecord, answer Answer) error {
	var err error
	if rec == nil {
		a := r.AnswerItem(connID, messageID, answer).Put
		_, err = r.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: a.TableName, Item: a.Item, ConditionExpression: a.ConditionExpression})
	} else {
		rec.AnswerStatus, rec.AnswerBody = answer.Status, answer.Body
		err = r.Create(ctx, rec)
	}
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) || errors.Is(err, ErrExists) {
		if first, gerr := r.FirstAnswer(ctx, ws, connID, messageID); gerr == nil {
			return &ErrDuplicate{First: *first}
		}
		return fmt.Errorf("message %s: %w", messageID, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("store incoming message: %w", err)
	}
	return nil
}

// dedupeTTL keeps de-duplication records past the sender's whole retry
// horizon (24 h) plus a day, and at least as long as messages.
func (r *Messages) dedupeTTL() time.Duration {
	return max(r.retention, 48*time.Hour)
}

// FirstAnswer returns the answer given to an incoming envelope of a
// connection of workspace ws ("" when the connection is not known yet), or
// ErrNotFound. It looks where either kind of answer lives.
func (r *Messages) FirstAnswer(ctx context.Context, ws, connID, messageID string) (*Answer, error) {
	if ws != "" {
		a, err := r.StoredAnswer(ctx, ws, connID, messageID)
		if !errors.Is(err, ErrNotFound) {
			return a, err
		}
	}
	return r.RecordedAnswer(ctx, connID, messageID)
}

// StoredAnswer returns the answer kept in an incoming message item (QUERY,
// COMMAND and EVENT keep theirs there), or ErrNotFound.
func (r *Messages) StoredAnswer(ctx context.Context, ws, connID, messageID string) (*Answer, error) {
	rec, err := r.Get(ctx, ws, messageID)
	switch {
	case err != nil:
		return nil, err
	case rec.Direction == federation.Inbound && rec.ConnectionID == connID && rec.AnswerStatus != 0:
		return &Answer{Status: rec.AnswerStatus, Body: rec.AnswerBody}, nil
	}
	return nil, ErrNotFound
}

// RecordedAnswer returns the answer kept in a de-duplication record (for
// envelopes that store no message), or ErrNotFound.
func (r *Messages) RecordedAnswer(ctx context.Context, connID, messageID string) (*Answer, error) {
	var a Answer
	if err := getItem(ctx, r.db, r.table, key(dedupePK(connID), msgSK(messageID)), &a, "dedupe record", true); err != nil {
		return nil, err
	}
	return &a, nil
}

// Get returns a workspace's message; ErrNotFound for another workspace's id.
func (r *Messages) Get(ctx context.Context, ws, id string) (*MessageRecord, error) {
	var rec MessageRecord
	if err := getItem(ctx, r.db, r.table, key(wsPK(ws), msgSK(id)), &rec, "message "+id, true); err != nil {
		return nil, err
	}
	return &rec, nil
}

func decodeMessage(item map[string]types.AttributeValue) (*MessageRecord, error) {
	var rec MessageRecord
	if err := attributevalue.UnmarshalMapWithOptions(item, &rec, jsonTagsDec); err != nil {
		return nil, fmt.Errorf("decode message: %w", err)
	}
	return &rec, nil
}

// MessageUpdate changes a message. Nil members are left alone.
type MessageUpdate struct {
	Status        string
	From          []string // allowed current statuses; nil: any not final
	Attempts      *int
	NextAttemptAt *time.Time
	ClearNext     bool
	Error         *string
	Response      *federation.Response
	DeliveredAt   *time.Time
	CompletedAt   *time.Time
	ClearOutbox   bool
	ClearDeadline bool
	// Outbox queues a job for the item again (e.g. a response to send).
	OutboxQueue    string
	DeadLetteredAt *time.Time
}

// Update applies u if the message's status allows it; ErrConflict otherwise
// (with the current record), ErrNotFound if it does not exist.
func (r *Messages) Update(ctx context.Context, ws, id string, mu MessageUpdate) (*MessageRecord, error) {
	upd := r.buildUpdate(ws, id, mu)
	out, err := r.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: upd.TableName, Key: upd.Key, UpdateExpression: upd.UpdateExpression, ConditionExpression: upd.ConditionExpression,
		ExpressionAttributeNames: upd.ExpressionAttributeNames, ExpressionAttributeValues: upd.ExpressionAttributeValues,
		ReturnValues: types.ReturnValueAllNew,
	})
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		current, gerr := r.Get(ctx, ws, id)
		if gerr != nil {
			return nil, gerr
		}
		return current, fmt.Errorf("message %s is %s: %w", id, current.Status, ErrConflict)
	}
	if err != nil {
		return nil, fmt.Errorf("update message: %w", err)
	}
	return decodeMessage(out.Attributes)
}

func (r *Messages) buildUpdate(ws, id string, mu MessageUpdate) *types.Update {
	now := r.now().UTC()
	u := newUpdate().set("updatedAt", now)
	if mu.Status != "" {
		u.set("status", mu.Status)
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
	if mu.OutboxQueue != "" {
		u.set("outboxKey", outboxKey).set("outboxDue", msTime(now)).set("outboxQueue", mu.OutboxQueue)
	}
	if mu.ClearDeadline {
		u.remove("deadlineKey").remove("deadlineAt")
	}
	u.cond("attribute_exists(pk)")
	from := mu.From
	if from == nil {
		for _, st := range federation.MessageStatuses {
			if !federation.IsFinal(st) {
				from = append(from, st)
			}
		}
	}
	u.in("status", from)
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
	upd := r.buildUpdate(ws, id, mu)
	items := []types.TransactWriteItem{{Update: upd}}
	for _, rec := range recs {
		p, err := r.put(rec)
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

// ClearOutbox takes an item off the outbox index once its job was sent,
// whatever its status.
func (r *Messages) ClearOutbox(ctx context.Context, ws, id string) error {
	_, err := r.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &r.table, Key: key(wsPK(ws), msgSK(id)),
		UpdateExpression:    aws.String("REMOVE outboxKey, outboxDue, outboxQueue"),
		ConditionExpression: aws.String("attribute_exists(pk)"),
	})
	var failed *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &failed) {
		return fmt.Errorf("clear outbox of %s: %w", id, err)
	}
	return nil
}

func ptrVal(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// ListFilter narrows a message list.
type ListFilter struct {
	Type      string // QUERY, COMMAND or EVENT (required)
	Status    string
	Direction string
}

// List returns a workspace's messages of one type, newest first. Status and
// direction filter within the workspace's own index partition, so a page may
// hold fewer than limit items and still have a next cursor.
func (r *Messages) List(ctx context.Context, ws string, f ListFilter, limit int32, cursor string) (Page[federation.Message], error) {
	part := wsPK(ws) + "#" + f.Type
	start, err := decodeCursor(cursor, "typeKey", part)
	if err != nil {
		return Page[federation.Message]{}, err
	}
	in := &dynamodb.QueryInput{
		TableName: &r.table, IndexName: aws.String(IndexMessagesByType), Limit: aws.Int32(limit),
		ScanIndexForward: aws.Bool(false), ExclusiveStartKey: start,
		KeyConditionExpression:    aws.String("typeKey = :p"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": s(part)},
	}
	var filters []string
	names := map[string]string{}
	if f.Status != "" {
		filters = append(filters, "#st = :st")
		names["#st"] = "status"
		in.ExpressionAttributeValues[":st"] = s(f.Status)
	}
	if f.Direction != "" {
		filters = append(filters, "#dir = :dir")
		names["#dir"] = "direction"
		in.ExpressionAttributeValues[":dir"] = s(f.Direction)
	}
	if len(filters) > 0 {
		expr := filters[0]
		for _, x := range filters[1:] {
			expr += " AND " + x
		}
		in.FilterExpression, in.ExpressionAttributeNames = &expr, names
	}
	out, err := r.db.Query(ctx, in)
	if err != nil {
		return Page[federation.Message]{}, fmt.Errorf("list messages: %w", err)
	}
	page := Page[federation.Message]{Items: []federation.Message{}, NextCursor: encodeCursor(out.LastEvaluatedKey)}
	for _, item := range out.Items {
		rec, err := decodeMessage(item)
		if err != nil {
			return page, err
		}
		page.Items = append(page.Items, rec.Message)
	}
	return page, nil
}

// BatchCreate writes new records 25 per BatchWriteItem call (DynamoDB's
// limit), retrying unprocessed items. Unlike Create it does not refuse
// existing ids, so callers write only records they know are new.
func (r *Messages) BatchCreate(ctx context.Context, recs []*MessageRecord) error {
	for start := 0; start < len(recs); start += 25 {
		var reqs []types.WriteRequest
		for _, rec := range recs[start:min(start+25, len(recs))] {
			item, err := attributevalue.MarshalMapWithOptions(rec, jsonTags)
			if err != nil {
				return fmt.Errorf("encode message: %w", err)
			}
			reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
		}
		pending := map[string][]types.WriteRequest{r.table: reqs}
		for attempt := 0; len(pending) > 0; attempt++ {
			if attempt == 8 {
				return fmt.Errorf("batch write messages: items still unprocessed")
			}
			if attempt > 0 {
				time.Sleep(time.Duration(25<<attempt) * time.Millisecond)
			}
			out, err := r.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: pending})
			if err != nil {
				return fmt.Errorf("batch write messages: %w", err)
			}
			pending = out.UnprocessedItems
		}
	}
	return nil
}

// Existing returns those of a workspace's message ids that are stored, 100
// per BatchGetItem call.
func (r *Messages) Existing(ctx context.Context, ws string, msgIDs []string) (map[string]*MessageRecord, error) {
	found := map[string]*MessageRecord{}
	for start := 0; start < len(msgIDs); start += 100 {
		var keys []map[string]types.AttributeValue
		for _, id := range msgIDs[start:min(start+100, len(msgIDs))] {
			keys = append(keys, key(wsPK(ws), msgSK(id)))
		}
		pending := map[string]types.KeysAndAttributes{r.table: {Keys: keys, ConsistentRead: aws.Bool(true)}}
		for attempt := 0; len(pending) > 0; attempt++ {
			if attempt == 8 {
				return nil, fmt.Errorf("batch get messages: keys still unprocessed")
			}
			out, err := r.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: pending})
			if err != nil {
				return nil, fmt.Errorf("batch get messages: %w", err)
			}
			for _, item := range out.Responses[r.table] {
				rec, err := decodeMessage(item)
				if err != nil {
					return nil, err
				}
				found[rec.ID] = rec
			}
			pending = out.UnprocessedKeys
		}
	}
	return found, nil
}

// Window returns a workspace's messages of one type created in [since,
// until), oldest first, as long as keep says so (it filters).
func (r *Messages) Window(ctx context.Context, ws, msgType string, since, until time.Time, keep func(*MessageRecord) bool, max int) ([]*MessageRecord, error) {
	p := dynamodb.NewQueryPaginator(r.db, &dynamodb.QueryInput{
		TableName: &r.table, IndexName: aws.String(IndexMessagesByType),
		KeyConditionExpression: aws.String("typeKey = :p AND createdKey BETWEEN :a AND :b"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":p": s(wsPK(ws) + "#" + msgType), ":a": s(msTime(since)), ":b": s(msTime(until.Add(-time.Millisecond)) + "#~"),
		},
	})
	var recs []*MessageRecord
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("messages in window: %w", err)
		}
		for _, item := range page.Items {
			rec, err := decodeMessage(item)
			if err != nil {
				return nil, err
			}
			if keep(rec) {
				if len(recs) == max {
					return nil, fmt.Errorf("more than %d messages in the window: %w", max, ErrConflict)
				}
				recs = append(recs, rec)
			}
		}
	}
	return recs, nil
}

// Outgoing returns a connection's outgoing messages of one envelope type,
// oldest first. Operators and tests use it to see control messages
// (CONNECT_RESPONSE, DISCONNECT, …), which no user list shows; it reads one
// workspace's partition.
func (r *Messages) Outgoing(ctx context.Context, ws, connID, envType string) ([]*MessageRecord, error) {
	var recs []*MessageRecord
	p := dynamodb.NewQueryPaginator(r.db, &dynamodb.QueryInput{
		TableName:              &r.table,
		KeyConditionExpression: aws.String("pk = :p AND begins_with(sk, :m)"),
		FilterExpression:       aws.String("connectionId = :c AND envelopeType = :t AND direction = :d"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":p": s(wsPK(ws)), ":m": s("MSG#"), ":c": s(connID), ":t": s(envType), ":d": s(federation.Outbound),
		},
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list outgoing messages: %w", err)
		}
		for _, item := range page.Items {
			rec, err := decodeMessage(item)
			if err != nil {
				return nil, err
			}
			recs = append(recs, rec)
		}
	}
	return recs, nil
}

// DueOutbox returns items whose job should have reached its queue before `before`.
func (r *Messages) DueOutbox(ctx context.Context, before time.Time, limit int32) ([]*MessageRecord, error) {
	return r.due(ctx, IndexMessagesOutbox, "outboxKey", outboxKey, "outboxDue", before, limit)
}

// DueDeadlines returns commands whose response deadline passed before `before`.
func (r *Messages) DueDeadlines(ctx context.Context, before time.Time, limit int32) ([]*MessageRecord, error) {
	return r.due(ctx, IndexMessagesDeadline, "deadlineKey", deadlineKey, "deadlineAt", before, limit)
}

func (r *Messages) due(ctx context.Context, index, pkAttr, pkValue, skAttr string, before time.Time, limit int32) ([]*MessageRecord, error) {
	out, err := r.db.Query(ctx, &dynamodb.QueryInput{
		TableName: &r.table, IndexName: aws.String(index), Limit: aws.Int32(limit),
		KeyConditionExpression: aws.String(pkAttr + " = :p AND " + skAttr + " < :t"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":p": s(pkValue), ":t": s(msTime(before)),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("query %s index: %w", index, err)
	}
	var recs []*MessageRecord
	for _, item := range out.Items {
		rec, err := decodeMessage(item)
		if err != nil {
			return nil, err
		}
		recs = append(recs, rec)
	}
	return recs, nil
}
