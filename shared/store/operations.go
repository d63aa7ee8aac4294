package store

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/fedgate/fedgate/shared/federation"
)

// Operator events live in the messages table (they share its retention):
// pk "OPS#<workspace>" for a workspace's, "OPS#" for the instance's, sk
// "<ms>#<id>", so each list is one Query, newest first.

func opsPK(ws string) string { return "OPS#" + ws }

type operationItem struct {
	PK string `json:"pk"`
	SK string `json:"sk"`
	federation.Operation
	ExpiresAt int64 `json:"expiresAt"`
}

// Operations is the repository of operator events.
type Operations struct {
	db        *dynamodb.Client
	table     string
	retention time.Duration
}

// Record stores an operator event: in its workspace's list when it has a
// workspace, and in the instance's list always.
func (r *Operations) Record(ctx context.Context, op federation.Operation) error {
	scopes := []string{""}
	if op.WorkspaceID != "" {
		scopes = append(scopes, op.WorkspaceID)
	}
	for _, scope := range scopes {
		item, err := attributevalue.MarshalMapWithOptions(operationItem{
			PK: opsPK(scope), SK: msTime(op.At) + "#" + op.ID, Operation: op, ExpiresAt: op.At.Add(r.retention).Unix(),
		}, jsonTags)
		if err != nil {
			return fmt.Errorf("encode operation: %w", err)
		}
		if _, err := r.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &r.table, Item: item}); err != nil {
			return fmt.Errorf("record operation: %w", err)
		}
	}
	return nil
}

// List returns operator events newest first: a workspace's, or the
// instance's when ws is "".
func (r *Operations) List(ctx context.Context, ws string, limit int32, cursor string) (Page[federation.Operation], error) {
	return newestFirst(ctx, r.db, &dynamodb.QueryInput{TableName: &r.table}, "pk", opsPK(ws), limit, cursor, "operations",
		func(raw map[string]types.AttributeValue) (federation.Operation, error) {
			var it operationItem
			err := attributevalue.UnmarshalMapWithOptions(raw, &it, jsonTagsDec)
			return it.Operation, err
		})
}
