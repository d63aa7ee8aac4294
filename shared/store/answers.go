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
	"github.com/fedgate/fedgate/shared/ids"
)

// First answers: a retried delivery of an incoming envelope gets exactly the
// answer the first one got. Envelopes that store a message (QUERY, COMMAND,
// EVENT) keep the answer in the message item; the others keep it in a
// de-duplication record (pk "IN#<connection>", sk "MSG#<messageId>").

func (r *Messages) answerPut(connID, messageID string, answer Outcome) *types.Put {
	return &types.Put{TableName: &r.table, Item: map[string]types.AttributeValue{
		"pk": s(dedupePK(connID)), "sk": s(msgSK(messageID)),
		"status":    &types.AttributeValueMemberN{Value: strconv.Itoa(answer.Status)},
		"body":      s(answer.Body),
		"signAs":    s(answer.SignAs),
		"expiresAt": &types.AttributeValueMemberN{Value: strconv.FormatInt(r.now().Add(r.dedupeTTL()).Unix(), 10)},
	}, ConditionExpression: aws.String("attribute_not_exists(pk)")}
}

// AnswerWrite is the Write that records the first answer to an incoming
// envelope in another repository's transaction; it fails if one is recorded
// already.
func (r *Messages) AnswerWrite(connID, messageID string, answer Outcome) Write {
	return Write{types.TransactWriteItem{Put: r.answerPut(connID, messageID, answer)}}
}

// CreateIncoming stores the first answer to an incoming envelope, together
// with the incoming message rec when there is one. The answer lives in the
// message item itself, so one conditional write stores both atomically
// (no transaction: moto copies whole tables for each one, and one write is
// cheaper in DynamoDB too). Without a message, a de-duplication record keeps
// the answer. A duplicate (same connection and messageId) gets *ErrDuplicate
// with the first answer. Duplicates are per connection: when another
// connection's message already has the id, rec is stored under an id of its
// own (CollisionID), so the same messageId from two peers is two messages.
func (r *Messages) CreateIncoming(ctx context.Context, ws, connID, messageID string, rec *MessageRecord, answer Outcome) error {
	if rec == nil {
		a := r.answerPut(connID, messageID, answer)
		_, err := r.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: a.TableName, Item: a.Item, ConditionExpression: a.ConditionExpression})
		var failed *types.ConditionalCheckFailedException
		if errors.As(err, &failed) {
			if first, gerr := r.RecordedAnswer(ctx, connID, messageID); gerr == nil {
				return &ErrDuplicate{First: *first}
			}
			return fmt.Errorf("message %s: %w", messageID, ErrExists)
		}
		if err != nil {
			return fmt.Errorf("store incoming message: %w", err)
		}
		return nil
	}
	if answer.Status != 0 {
		rec.Answer = &answer // a zero outcome: nothing to repeat (a QUERY is run again)
	}
	for _, id := range []string{messageID, CollisionID(connID, messageID)} {
		rec.ID = id
		err := r.Create(ctx, rec)
		if !errors.Is(err, ErrExists) {
			return err
		}
		existing, gerr := r.Get(ctx, ws, id)
		if gerr != nil {
			return gerr
		}
		if existing.Direction == federation.Inbound && existing.ConnectionID == connID && existing.Answer != nil {
			return &ErrDuplicate{First: *existing.Answer}
		}
	}
	return fmt.Errorf("message %s: %w", messageID, ErrExists)
}

// CollisionID is where an incoming message of connID is stored when another
// message of the workspace already has its messageId.
func CollisionID(connID, messageID string) string { return ids.Derived("incoming", connID, messageID) }

// dedupeTTL keeps de-duplication records past the sender's whole retry
// horizon plus a day, and at least as long as messages.
func (r *Messages) dedupeTTL() time.Duration {
	return max(r.retention.Messages, r.retention.Answers, 48*time.Hour)
}

// FirstAnswer returns the answer given to an incoming envelope of a
// connection of workspace ws ("" when the connection is not known yet), or
// ErrNotFound. It looks where either kind of answer lives.
func (r *Messages) FirstAnswer(ctx context.Context, ws, connID, messageID string) (*Outcome, error) {
	if ws != "" {
		a, err := r.StoredAnswer(ctx, ws, connID, messageID)
		if !errors.Is(err, ErrNotFound) {
			return a, err
		}
	}
	return r.RecordedAnswer(ctx, connID, messageID)
}

// StoredAnswer returns the answer kept in an incoming message item (QUERY,
// COMMAND and EVENT keep theirs there), or ErrNotFound. Only when the id is
// another connection's message does it read a second item (CollisionID).
func (r *Messages) StoredAnswer(ctx context.Context, ws, connID, messageID string) (*Outcome, error) {
	for _, id := range []string{messageID, CollisionID(connID, messageID)} {
		rec, err := r.Get(ctx, ws, id)
		switch {
		case err != nil:
			return nil, err
		case rec.Direction == federation.Inbound && rec.ConnectionID == connID && rec.Answer != nil:
			return rec.Answer, nil
		case rec.Direction == federation.Inbound && rec.ConnectionID == connID:
			return nil, ErrNotFound
		}
	}
	return nil, ErrNotFound
}

// RecordedAnswer returns the answer kept in a de-duplication record (for
// envelopes that store no message), or ErrNotFound.
func (r *Messages) RecordedAnswer(ctx context.Context, connID, messageID string) (*Outcome, error) {
	var a Outcome
	if err := getItem(ctx, r.db, r.table, key(dedupePK(connID), msgSK(messageID)), &a, "dedupe record", true); err != nil {
		return nil, err
	}
	return &a, nil
}
