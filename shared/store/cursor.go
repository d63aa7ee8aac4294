package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Page is one page of a list, newest first.
type Page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"nextCursor,omitempty"`
}

// encodeCursor turns a LastEvaluatedKey (string attributes only) into an opaque cursor.
func encodeCursor(k map[string]types.AttributeValue) string {
	if len(k) == 0 {
		return ""
	}
	m := map[string]string{}
	for name, v := range k {
		if sv, ok := v.(*types.AttributeValueMemberS); ok {
			m[name] = sv.Value
		}
	}
	data, _ := json.Marshal(m)
	return base64.RawURLEncoding.EncodeToString(data)
}

// decodeCursor parses a cursor and checks that it belongs to the partition
// being listed (attribute partAttr equals partValue), so a cursor can never
// move a Query into another workspace.
func decodeCursor(cursor, partAttr, partValue string) (map[string]types.AttributeValue, error) {
	if cursor == "" {
		return nil, nil
	}
	data, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return nil, fmt.Errorf("%w: not base64", ErrBadCursor)
	}
	var m map[string]string
	if err := json.Unmarshal(data, &m); err != nil || m[partAttr] != partValue {
		return nil, fmt.Errorf("%w: not from this list", ErrBadCursor)
	}
	out := map[string]types.AttributeValue{}
	for k, v := range m {
		out[k] = s(v)
	}
	return out, nil
}

// newestFirst runs one page of a Query over the partition partAttr =
// partValue (of in's table or index, with in's filter if any), newest first
// from cursor, and decodes each item. Every workspace list is this.
func newestFirst[T any](ctx context.Context, db *dynamodb.Client, in *dynamodb.QueryInput, partAttr, partValue string,
	limit int32, cursor, what string, decode func(map[string]types.AttributeValue) (T, error)) (Page[T], error) {
	start, err := decodeCursor(cursor, partAttr, partValue)
	if err != nil {
		return Page[T]{}, err
	}
	in.Limit, in.ScanIndexForward, in.ExclusiveStartKey = aws.Int32(limit), aws.Bool(false), start
	in.KeyConditionExpression = aws.String(partAttr + " = :p")
	if in.ExpressionAttributeValues == nil {
		in.ExpressionAttributeValues = map[string]types.AttributeValue{}
	}
	in.ExpressionAttributeValues[":p"] = s(partValue)
	out, err := db.Query(ctx, in)
	if err != nil {
		return Page[T]{}, fmt.Errorf("list %s: %w", what, err)
	}
	page := Page[T]{Items: []T{}, NextCursor: encodeCursor(out.LastEvaluatedKey)}
	for _, raw := range out.Items {
		item, err := decode(raw)
		if err != nil {
			return page, fmt.Errorf("decode %s: %w", what, err)
		}
		page.Items = append(page.Items, item)
	}
	return page, nil
}

// ofConnection filters a workspace list to one connection's items, within
// the workspace's own partition (so a page may hold fewer than its limit and
// still go on); "" lists them all.
func ofConnection(connID string) *dynamodb.QueryInput {
	in := &dynamodb.QueryInput{}
	if connID != "" {
		in.FilterExpression = aws.String("connectionId = :c")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":c": s(connID)}
	}
	return in
}
