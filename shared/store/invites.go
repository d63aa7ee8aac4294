package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Invites is the repository of single-use invite tokens. Only the token's
// SHA-256 is stored, so a leaked table holds no usable invite.
type Invites struct {
	db    *dynamodb.Client
	table string
}

func invitePK(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "INVITE#" + hex.EncodeToString(sum[:])
}

// Create stores an invite for workspace ws that expires at expiresAt.
func (r *Invites) Create(ctx context.Context, token, ws, createdBy string, expiresAt time.Time) error {
	err := putOnce(ctx, r.db, &dynamodb.PutItemInput{
		TableName: &r.table,
		Item: map[string]types.AttributeValue{
			"pk": s(invitePK(token)), "workspaceId": s(ws), "createdBy": s(createdBy),
			"expiresAtMs": &types.AttributeValueMemberN{Value: strconv.FormatInt(expiresAt.UnixMilli(), 10)},
			// TTL deletes expired invites eventually; validity is checked on expiresAtMs.
			"expiresAt": &types.AttributeValueMemberN{Value: strconv.FormatInt(expiresAt.Unix(), 10)},
		},
		ConditionExpression: aws.String("attribute_not_exists(pk)"),
	})
	if err != nil {
		return fmt.Errorf("create invite: %w", err)
	}
	return nil
}

// Workspace returns the workspace of an unused, unexpired invite.
func (r *Invites) Workspace(ctx context.Context, token string, now time.Time) (string, error) {
	out, err := r.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &r.table, Key: map[string]types.AttributeValue{"pk": s(invitePK(token))}, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return "", fmt.Errorf("get invite: %w", err)
	}
	if out.Item == nil || out.Item["usedAt"] != nil {
		return "", ErrNotFound
	}
	exp, _ := out.Item["expiresAtMs"].(*types.AttributeValueMemberN)
	ws, _ := out.Item["workspaceId"].(*types.AttributeValueMemberS)
	if exp == nil || ws == nil {
		return "", ErrNotFound
	}
	if ms, _ := strconv.ParseInt(exp.Value, 10, 64); ms <= now.UnixMilli() {
		return "", ErrNotFound
	}
	return ws.Value, nil
}

// ConsumeWrite is the Write that marks the invite used, and fails unless it
// exists, is unused and has not expired; pass it to Connections.Create so the
// invite is spent exactly when the connection is stored.
func (r *Invites) ConsumeWrite(token, connectionID string, now time.Time) Write {
	return Write{types.TransactWriteItem{Update: &types.Update{
		TableName:           &r.table,
		Key:                 map[string]types.AttributeValue{"pk": s(invitePK(token))},
		UpdateExpression:    aws.String("SET usedAt = :now, usedBy = :conn"),
		ConditionExpression: aws.String("attribute_exists(pk) AND attribute_not_exists(usedAt) AND expiresAtMs > :nowMs"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":now":   s(now.UTC().Format(time.RFC3339Nano)),
			":conn":  s(connectionID),
			":nowMs": &types.AttributeValueMemberN{Value: strconv.FormatInt(now.UnixMilli(), 10)},
		},
	}}}
}
