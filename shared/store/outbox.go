package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

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
	return decodeMessages(out.Items)
}

func decodeMessages(items []map[string]types.AttributeValue) ([]*MessageRecord, error) {
	recs := make([]*MessageRecord, 0, len(items))
	for _, item := range items {
		rec, err := decodeMessage(item)
		if err != nil {
			return nil, err
		}
		recs = append(recs, rec)
	}
	return recs, nil
}

// Held returns one page of the deliveries of a connection held without
// attempts (the held index), to release them, and the next page's cursor.
func (r *Messages) Held(ctx context.Context, ws, connID string, limit int32, cursor string) ([]*MessageRecord, string, error) {
	part := heldKey(ws, connID)
	start, err := decodeCursor(cursor, "heldKey", part)
	if err != nil {
		return nil, "", err
	}
	out, err := r.db.Query(ctx, &dynamodb.QueryInput{
		TableName: &r.table, IndexName: aws.String(IndexMessagesHeld), Limit: aws.Int32(limit),
		KeyConditionExpression:    aws.String("heldKey = :k"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":k": s(part)},
		ExclusiveStartKey:         start,
	})
	if err != nil {
		return nil, "", fmt.Errorf("held deliveries: %w", err)
	}
	recs := make([]*MessageRecord, 0, len(out.Items))
	for _, raw := range out.Items {
		rec, err := decodeMessage(raw)
		if err != nil {
			return nil, "", err
		}
		recs = append(recs, rec)
	}
	return recs, encodeCursor(out.LastEvaluatedKey), nil
}
