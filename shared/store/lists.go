package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/fedgate/fedgate/shared/federation"
)

// ListFilter narrows a message list.
type ListFilter struct {
	Type      string // QUERY, COMMAND or EVENT (required)
	Status    federation.MsgStatus
	Direction string
}

// List returns a workspace's messages of one type, newest first. Status and
// direction filter within the workspace's own index partition, so a page may
// hold fewer than limit items and still have a next cursor.
func (r *Messages) List(ctx context.Context, ws string, f ListFilter, limit int32, cursor string) (Page[federation.Message], error) {
	in := &dynamodb.QueryInput{TableName: &r.table, IndexName: aws.String(IndexMessagesByType), ExpressionAttributeValues: map[string]types.AttributeValue{}}
	var filters []string
	names := map[string]string{}
	if f.Status != "" {
		filters = append(filters, "#st = :st")
		names["#st"] = "status"
		in.ExpressionAttributeValues[":st"] = s(string(f.Status))
	}
	if f.Direction != "" {
		filters = append(filters, "#dir = :dir")
		names["#dir"] = "direction"
		in.ExpressionAttributeValues[":dir"] = s(f.Direction)
	}
	if len(filters) > 0 {
		in.FilterExpression, in.ExpressionAttributeNames = aws.String(strings.Join(filters, " AND ")), names
	}
	return newestFirst(ctx, r.db, in, "typeKey", typeKey(ws, f.Type), limit, cursor, "messages",
		func(raw map[string]types.AttributeValue) (federation.Message, error) {
			rec, err := decodeMessage(raw)
			if err != nil {
				return federation.Message{}, err
			}
			return rec.Message, nil
		})
}

// EventLog returns one page of the events workspace ws published in
// [since, until), oldest first, and the cursor of the next page ("" at the end).
func (r *Messages) EventLog(ctx context.Context, ws string, since, until time.Time, limit int32, cursor string) ([]*MessageRecord, string, error) {
	part := typeKey(ws, federation.TypePublished)
	start, err := decodeCursor(cursor, "typeKey", part)
	if err != nil {
		return nil, "", err
	}
	out, err := r.db.Query(ctx, &dynamodb.QueryInput{
		TableName: &r.table, IndexName: aws.String(IndexMessagesByType), Limit: aws.Int32(limit), ExclusiveStartKey: start,
		KeyConditionExpression: aws.String("typeKey = :p AND createdKey BETWEEN :a AND :b"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":p": s(part), ":a": s(msTime(since)), ":b": s(msTime(until.Add(-time.Millisecond)) + "#~"),
		},
	})
	if err != nil {
		return nil, "", fmt.Errorf("event log: %w", err)
	}
	recs, err := decodeMessages(out.Items)
	return recs, encodeCursor(out.LastEvaluatedKey), err
}

// CountEvents counts the events workspace ws published in [since, until)
// whose type one of patterns matches (PROTOCOL.md §8 subscription patterns).
func (r *Messages) CountEvents(ctx context.Context, ws string, since, until time.Time, patterns []string) (int, error) {
	if len(patterns) == 0 {
		return 0, nil
	}
	values := map[string]types.AttributeValue{
		":p": s(typeKey(ws, federation.TypePublished)), ":a": s(msTime(since)), ":b": s(msTime(until.Add(-time.Millisecond)) + "#~"),
	}
	var terms []string
	for i, p := range patterns {
		ph := fmt.Sprintf(":t%d", i)
		if prefix, ok := strings.CutSuffix(p, ".*"); ok {
			values[ph] = s(prefix + ".")
			terms = append(terms, "begins_with(eventType, "+ph+")")
		} else {
			values[ph] = s(p)
			terms = append(terms, "eventType = "+ph)
		}
	}
	p := dynamodb.NewQueryPaginator(r.db, &dynamodb.QueryInput{
		TableName: &r.table, IndexName: aws.String(IndexMessagesByType), Select: types.SelectCount,
		KeyConditionExpression: aws.String("typeKey = :p AND createdKey BETWEEN :a AND :b"),
		FilterExpression:       aws.String(strings.Join(terms, " OR ")), ExpressionAttributeValues: values,
	})
	n := 0
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return 0, fmt.Errorf("count events: %w", err)
		}
		n += int(page.Count)
	}
	return n, nil
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
