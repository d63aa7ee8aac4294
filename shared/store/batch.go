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

// BatchCreate writes new records 25 per BatchWriteItem call (DynamoDB's
// limit), retrying unprocessed items. Unlike Create it does not refuse
// existing ids, so callers write only records they know are new.
func (r *Messages) BatchCreate(ctx context.Context, recs []*MessageRecord) error {
	for start := 0; start < len(recs); start += 25 {
		var reqs []types.WriteRequest
		for _, rec := range recs[start:min(start+25, len(recs))] {
			item, err := attributevalue.MarshalMapWithOptions(r.item(rec), jsonTags)
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
