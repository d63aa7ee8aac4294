package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/ids"
)

// Subscriptions live under their workspace: pk "WS#<ws>", sk
// "SUB#<connection>#<direction>#<eventType>", which makes them unique per
// (workspace, connection, eventType, direction). Active INBOUND ones are also
// on the fan-out index under "WS#<ws>#<event family>", so a publish reads the
// patterns that can match its type with one Query, never a Scan.

func subSK(connID, direction, eventType string) string {
	return "SUB#" + connID + "#" + direction + "#" + eventType
}

func fanKey(ws, pattern string) string { return wsPK(ws) + "#" + federation.EventFamily(pattern) }

type subscriptionItem struct {
	PK           string     `dynamodbav:"pk"`
	SK           string     `dynamodbav:"sk"`
	ID           string     `dynamodbav:"id"`
	WorkspaceID  string     `dynamodbav:"workspaceId"`
	ConnectionID string     `dynamodbav:"connectionId"`
	EventType    string     `dynamodbav:"eventType"`
	Direction    string     `dynamodbav:"direction"`
	Metadata     []byte     `dynamodbav:"metadata"`
	IsActive     bool       `dynamodbav:"isActive"`
	CreatedAt    time.Time  `dynamodbav:"createdAt"`
	UpdatedAt    time.Time  `dynamodbav:"updatedAt"`
	SyncedAt     *time.Time `dynamodbav:"syncedAt,omitempty"`
}

func (i subscriptionItem) subscription() federation.Subscription {
	return federation.Subscription{
		ID: i.ID, WorkspaceID: i.WorkspaceID, ConnectionID: i.ConnectionID, EventType: i.EventType,
		Direction: i.Direction, Metadata: i.Metadata, IsActive: i.IsActive, CreatedAt: i.CreatedAt, UpdatedAt: i.UpdatedAt,
		SyncedAt: i.SyncedAt,
	}
}

// Subscriptions is the repository of the subscriptions table.
type Subscriptions struct {
	db    *dynamodb.Client
	table string
	now   func() time.Time
}

// SubscriptionChange creates, reactivates or deactivates a subscription.
type SubscriptionChange struct {
	Workspace, ConnectionID, Direction, EventType string
	Active                                        bool
	Metadata                                      []byte // kept when nil
	// Limit bounds the connection's active subscriptions in this direction
	// (0: no bound); activating one more is ErrLimit.
	Limit int
}

// ErrLimit is returned when a change would pass its bound.
var ErrLimit = errors.New("limit reached")

func subCountSK(connID, direction string) string { return "SUBCOUNT#" + connID + "#" + direction }

// Set creates or updates a subscription: active or not, keeping its id and
// creation time across re-subscriptions (which reactivate it). With a Limit,
// a counter of the connection's active subscriptions moves in the same
// transaction as the one that changes, so the bound holds under concurrency.
func (r *Subscriptions) Set(ctx context.Context, ch SubscriptionChange) (*federation.Subscription, error) {
	k := key(wsPK(ch.Workspace), subSK(ch.ConnectionID, ch.Direction, ch.EventType))
	expr, values := r.setExpression(ch)
	if ch.Limit > 0 {
		switch err := r.setCounted(ctx, ch, k, expr, values); {
		case err == nil:
			return r.Get(ctx, ch.Workspace, ch.ConnectionID, ch.Direction, ch.EventType)
		case !errors.Is(err, errUnchanged):
			return nil, err
		}
		// Already in the wanted state: nothing to count, only to update.
	}
	out, err := r.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &r.table, Key: k, UpdateExpression: aws.String(expr), ExpressionAttributeValues: values,
		ReturnValues: types.ReturnValueAllNew,
	})
	if err != nil {
		return nil, fmt.Errorf("set subscription: %w", err)
	}
	var item subscriptionItem
	if err := attributevalue.UnmarshalMap(out.Attributes, &item); err != nil {
		return nil, fmt.Errorf("decode subscription: %w", err)
	}
	sub := item.subscription()
	return &sub, nil
}

func (r *Subscriptions) setExpression(ch SubscriptionChange) (string, map[string]types.AttributeValue) {
	now := r.now().UTC()
	nowAV, _ := attributevalue.Marshal(now)
	values := map[string]types.AttributeValue{
		":id": s(ids.New()), ":now": nowAV, ":ws": s(ch.Workspace), ":c": s(ch.ConnectionID), ":t": s(ch.EventType),
		":d": s(ch.Direction), ":a": &types.AttributeValueMemberBOOL{Value: ch.Active},
		":lk": s(wsPK(ch.Workspace)), ":ls": s(msTime(now) + "#" + ch.ConnectionID + "#" + ch.Direction + "#" + ch.EventType),
	}
	expr := "SET id = if_not_exists(id, :id), createdAt = if_not_exists(createdAt, :now), updatedAt = :now, " +
		"workspaceId = :ws, connectionId = :c, eventType = :t, direction = :d, isActive = :a, " +
		"listKey = :lk, listSort = if_not_exists(listSort, :ls)"
	if ch.Metadata != nil {
		expr += ", metadata = :m"
		values[":m"] = &types.AttributeValueMemberB{Value: ch.Metadata}
	}
	if ch.Active && ch.Direction == federation.Inbound {
		expr += ", fanKey = :fk, fanSort = :fs"
		values[":fk"], values[":fs"] = s(fanKey(ch.Workspace, ch.EventType)), s(ch.ConnectionID+"#"+ch.EventType)
	} else {
		expr += " REMOVE fanKey, fanSort"
	}
	return expr, values
}

// errUnchanged: the subscription is already active (or inactive) as asked.
var errUnchanged = errors.New("unchanged")

// setCounted flips a subscription's state and moves the counter with it.
func (r *Subscriptions) setCounted(ctx context.Context, ch SubscriptionChange, k map[string]types.AttributeValue, expr string, values map[string]types.AttributeValue) error {
	values = maps.Clone(values)
	values[":other"] = &types.AttributeValueMemberBOOL{Value: !ch.Active}
	cond := "isActive = :other"
	if ch.Active {
		cond = "attribute_not_exists(isActive) OR isActive = :other"
	}
	counter := &types.Update{
		TableName: &r.table, Key: key(wsPK(ch.Workspace), subCountSK(ch.ConnectionID, ch.Direction)),
		UpdateExpression:          aws.String("ADD n :step"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":step": &types.AttributeValueMemberN{Value: "-1"}},
	}
	if ch.Active {
		counter.ConditionExpression = aws.String("attribute_not_exists(n) OR n < :max")
		counter.ExpressionAttributeValues = map[string]types.AttributeValue{
			":step": &types.AttributeValueMemberN{Value: "1"}, ":max": &types.AttributeValueMemberN{Value: strconv.Itoa(ch.Limit)},
		}
	}
	_, err := r.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Update: &types.Update{TableName: &r.table, Key: k, UpdateExpression: aws.String(expr),
			ConditionExpression: aws.String(cond), ExpressionAttributeValues: values}},
		{Update: counter},
	}})
	var cancelled *types.TransactionCanceledException
	if errors.As(err, &cancelled) {
		reasons := cancelled.CancellationReasons
		if len(reasons) > 0 && aws.ToString(reasons[0].Code) == "ConditionalCheckFailed" {
			return errUnchanged
		}
		return fmt.Errorf("subscription %s: at most %d active: %w", ch.EventType, ch.Limit, ErrLimit)
	}
	if err != nil {
		return fmt.Errorf("set subscription: %w", err)
	}
	return nil
}

// Get returns one subscription; ErrNotFound if it was never made.
func (r *Subscriptions) Get(ctx context.Context, ws, connID, direction, eventType string) (*federation.Subscription, error) {
	var item subscriptionItem
	if err := getItem(ctx, r.db, r.table, key(wsPK(ws), subSK(connID, direction, eventType)), &item, "subscription", false); err != nil {
		return nil, err
	}
	sub := item.subscription()
	return &sub, nil
}

// List returns a workspace's subscriptions in both directions, of one
// connection if connID is set.
func (r *Subscriptions) List(ctx context.Context, ws, connID string) ([]federation.Subscription, error) {
	prefix := "SUB#"
	if connID != "" {
		prefix += connID + "#"
	}
	return r.query(ctx, &dynamodb.QueryInput{
		TableName:                 &r.table,
		KeyConditionExpression:    aws.String("pk = :p AND begins_with(sk, :s)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": s(wsPK(ws)), ":s": s(prefix)},
		ConsistentRead:            aws.Bool(true),
	})
}

// Page returns a workspace's subscriptions in both directions, newest first,
// of one connection if connID is set (filtered within the workspace's own
// index partition, so a page may hold fewer than limit and still go on).
func (r *Subscriptions) Page(ctx context.Context, ws, connID string, limit int32, cursor string) (Page[federation.Subscription], error) {
	in := ofConnection(connID)
	in.TableName, in.IndexName = &r.table, aws.String(IndexSubscriptionsByTime)
	return newestFirst(ctx, r.db, in, "listKey", wsPK(ws), limit, cursor, "subscriptions",
		func(raw map[string]types.AttributeValue) (federation.Subscription, error) {
			var item subscriptionItem
			err := attributevalue.UnmarshalMap(raw, &item)
			return item.subscription(), err
		})
}

// MarkSynced records that the publisher confirmed the subscription at.
func (r *Subscriptions) MarkSynced(ctx context.Context, ws, connID, direction, eventType string, at time.Time) error {
	atAV, _ := attributevalue.Marshal(at.UTC())
	_, err := r.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &r.table, Key: key(wsPK(ws), subSK(connID, direction, eventType)),
		UpdateExpression:          aws.String("SET syncedAt = :at"),
		ConditionExpression:       aws.String("attribute_exists(pk)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":at": atAV},
	})
	var failed *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &failed) {
		return fmt.Errorf("mark subscription synced: %w", err)
	}
	return nil
}

// Sync-due markers: pk "WS#<ws>", sk "SYNC#<connection>", on the sync index
// by when the workspace's subscriptions on that connection are to be sent to
// the publisher again (event.sync).
func syncSK(connID string) string { return "SYNC#" + connID }

const syncKey = "SYNC"

// SyncDue is a connection whose subscriptions are due to be synced.
type SyncDue struct{ Workspace, ConnectionID string }

// ScheduleSync sets when the workspace's subscriptions on connID are synced next.
func (r *Subscriptions) ScheduleSync(ctx context.Context, ws, connID string, at time.Time) error {
	_, err := r.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &r.table, Item: map[string]types.AttributeValue{
		"pk": s(wsPK(ws)), "sk": s(syncSK(connID)), "syncKey": s(syncKey), "syncDue": s(msTime(at)),
		"workspaceId": s(ws), "connectionId": s(connID),
	}})
	if err != nil {
		return fmt.Errorf("schedule sync: %w", err)
	}
	return nil
}

// DueSyncs returns the connections whose sync is due before `before`.
func (r *Subscriptions) DueSyncs(ctx context.Context, before time.Time, limit int32) ([]SyncDue, error) {
	out, err := r.db.Query(ctx, &dynamodb.QueryInput{
		TableName: &r.table, IndexName: aws.String(IndexSubscriptionsSync), Limit: aws.Int32(limit),
		KeyConditionExpression: aws.String("syncKey = :k AND syncDue < :t"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":k": s(syncKey), ":t": s(msTime(before)),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("due syncs: %w", err)
	}
	due := make([]SyncDue, 0, len(out.Items))
	for _, raw := range out.Items {
		var d struct {
			WS   string `dynamodbav:"workspaceId"`
			Conn string `dynamodbav:"connectionId"`
		}
		if err := attributevalue.UnmarshalMap(raw, &d); err != nil {
			return nil, fmt.Errorf("decode sync: %w", err)
		}
		due = append(due, SyncDue{Workspace: d.WS, ConnectionID: d.Conn})
	}
	return due, nil
}

// Active returns a connection's active subscriptions in one direction
// (OUTBOUND: what this workspace asked the peer for; INBOUND: what the peer
// asked for here).
func (r *Subscriptions) Active(ctx context.Context, ws, connID, direction string) ([]federation.Subscription, error) {
	subs, err := r.query(ctx, &dynamodb.QueryInput{
		TableName:                 &r.table,
		KeyConditionExpression:    aws.String("pk = :p AND begins_with(sk, :s)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": s(wsPK(ws)), ":s": s("SUB#" + connID + "#" + direction + "#")},
		ConsistentRead:            aws.Bool(true),
	})
	if err != nil {
		return nil, err
	}
	out := subs[:0]
	for _, sub := range subs {
		if sub.IsActive {
			out = append(out, sub)
		}
	}
	return out, nil
}

// Candidates returns one page of the active INBOUND subscriptions of ws that
// may receive an event of eventType (those of its family: the fan-out index
// partition), and the cursor of the next page; Subscription.Receives decides.
func (r *Subscriptions) Candidates(ctx context.Context, ws, eventType string, limit int32, cursor string) ([]federation.Subscription, string, error) {
	part := fanKey(ws, eventType)
	start, err := decodeCursor(cursor, "fanKey", part)
	if err != nil {
		return nil, "", err
	}
	out, err := r.db.Query(ctx, &dynamodb.QueryInput{
		TableName: &r.table, IndexName: aws.String(IndexSubscriptionsFanout), Limit: aws.Int32(limit),
		KeyConditionExpression:    aws.String("fanKey = :p"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": s(part)},
		ExclusiveStartKey:         start,
	})
	if err != nil {
		return nil, "", fmt.Errorf("matching subscriptions: %w", err)
	}
	var subs []federation.Subscription
	for _, raw := range out.Items {
		var item subscriptionItem
		if err := attributevalue.UnmarshalMap(raw, &item); err != nil {
			return nil, "", fmt.Errorf("decode subscription: %w", err)
		}
		if item.IsActive {
			subs = append(subs, item.subscription())
		}
	}
	return subs, encodeCursor(out.LastEvaluatedKey), nil
}

func (r *Subscriptions) query(ctx context.Context, in *dynamodb.QueryInput) ([]federation.Subscription, error) {
	var subs []federation.Subscription
	p := dynamodb.NewQueryPaginator(r.db, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("query subscriptions: %w", err)
		}
		for _, raw := range page.Items {
			var item subscriptionItem
			if err := attributevalue.UnmarshalMap(raw, &item); err != nil {
				return nil, fmt.Errorf("decode subscription: %w", err)
			}
			subs = append(subs, item.subscription())
		}
	}
	return subs, nil
}
