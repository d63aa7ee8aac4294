package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/fedgate/fedgate/shared/federation"
)

// First answers: a retried delivery of an incoming envelope gets exactly the
// answer the first one got. Envelopes that store a message (QUERY, COMMAND,
// EVENT) keep the answer in the message item; the others keep it in a
// de-duplication record (pk "IN#<connection>", sk "MSG#<messageId>").

func (r *Messages) answerPut(connID, messageID string, answer Answer) *types.Put {
	return &types.Put{TableName: &r.table, Item: map[string]types.AttributeValue{
		"pk": s(dedupePK(connID)), "sk": s(msgSK(messageID)),
		"status":    &types.AttributeValueMemberN{Value: strconv.Itoa(answer.Status)},
		"body":      s(answer.Body),
		"expiresAt": &types.AttributeValueMemberN{Value: strconv.FormatInt(r.now().Add(r.dedupeTTL()).Unix(), 10)},
	}, ConditionExpression: aws.String("attribute_not_exists(pk)")}
}

// AnswerWrite is the Write that records the first answer to an incoming
// envelope in another repository's transaction; it fails if one is recorded
// already.
func (r *Messages) AnswerWrite(connID, messageID string, answer Answer) Write {
	return Write{types.TransactWriteItem{Put: r.answerPut(connID, messageID, answer)}}
}

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
		a := r.answerPut(connID, messageID, answer)
		_, err = r.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: a.TableName, Item: a.Item, ConditionExpression: a.ConditionExpression})
	} else {
		rec.Answer = &answer
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
	case rec.Direction == federation.Inbound && rec.ConnectionID == connID && rec.Answer != nil:
		return rec.Answer, nil
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
