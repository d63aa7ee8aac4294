package store

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// DynamoDB's batch limits.
const (
	batchWriteSize = 25
	batchGetSize   = 100
	batchAttempts  = 8
)

// batchWrite puts items into table 25 per BatchWriteItem call, retrying
// unprocessed items with a growing pause. Puts overwrite: callers write only
// items they know are new (or may be replaced).
func batchWrite(ctx context.Context, db *dynamodb.Client, table, what string, items []map[string]types.AttributeValue) error {
	for start := 0; start < len(items); start += batchWriteSize {
		var reqs []types.WriteRequest
		for _, item := range items[start:min(start+batchWriteSize, len(items))] {
			reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
		}
		pending := map[string][]types.WriteRequest{table: reqs}
		for attempt := 0; len(pending) > 0; attempt++ {
			if attempt == batchAttempts {
				return fmt.Errorf("batch write %s: items still unprocessed", what)
			}
			if attempt > 0 {
				time.Sleep(time.Duration(25<<attempt) * time.Millisecond)
			}
			out, err := db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: pending})
			if err != nil {
				return fmt.Errorf("batch write %s: %w", what, err)
			}
			pending = out.UnprocessedItems
		}
	}
	return nil
}

// batchGet reads the items at keys 100 per BatchGetItem call (retrying
// unprocessed keys) and hands each one found to each.
func batchGet(ctx context.Context, db *dynamodb.Client, table, what string, keys []map[string]types.AttributeValue, consistent bool, each func(map[string]types.AttributeValue) error) error {
	for start := 0; start < len(keys); start += batchGetSize {
		pending := map[string]types.KeysAndAttributes{table: {
			Keys: keys[start:min(start+batchGetSize, len(keys))], ConsistentRead: aws.Bool(consistent),
		}}
		for attempt := 0; len(pending) > 0; attempt++ {
			if attempt == batchAttempts {
				return fmt.Errorf("batch get %s: keys still unprocessed", what)
			}
			out, err := db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: pending})
			if err != nil {
				return fmt.Errorf("batch get %s: %w", what, err)
			}
			for _, item := range out.Responses[table] {
				if err := each(item); err != nil {
					return err
				}
			}
			pending = out.UnprocessedKeys
		}
	}
	return nil
}

// BatchCreate writes new records in batches. Unlike Create it does not
// refuse existing ids, so callers write only records they know are new.
func (r *Messages) BatchCreate(ctx context.Context, recs []*MessageRecord) error {
	items := make([]map[string]types.AttributeValue, len(recs))
	for i, rec := range recs {
		stamp(ctx, rec)
		item, err := attributevalue.MarshalMapWithOptions(r.item(rec), jsonTags)
		if err != nil {
			return fmt.Errorf("encode message: %w", err)
		}
		items[i] = item
	}
	return batchWrite(ctx, r.db, r.table, "messages", items)
}

// Existing returns those of a workspace's message ids that are stored.
func (r *Messages) Existing(ctx context.Context, ws string, msgIDs []string) (map[string]*MessageRecord, error) {
	keys := make([]map[string]types.AttributeValue, len(msgIDs))
	for i, id := range msgIDs {
		keys[i] = key(wsPK(ws), msgSK(id))
	}
	found := map[string]*MessageRecord{}
	err := batchGet(ctx, r.db, r.table, "messages", keys, true, func(item map[string]types.AttributeValue) error {
		rec, err := decodeMessage(item)
		if err == nil {
			found[rec.ID] = rec
		}
		return err
	})
	return found, err
}
