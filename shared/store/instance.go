package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/fedgate/fedgate/shared/signing"
)

// instancePK is the key of the single identity item.
const instancePK = "INSTANCE"

// InstanceRecord is the stored identity of this instance.
type InstanceRecord struct {
	PK           string   `dynamodbav:"pk"`
	InstanceID   string   `dynamodbav:"instanceId"`
	Name         string   `dynamodbav:"name"`
	URL          string   `dynamodbav:"url"`
	CommandTypes []string `dynamodbav:"commandTypes"`
	EventTypes   []string `dynamodbav:"eventTypes"`
	// DeployedCommandTypes and DeployedEventTypes are what the deployment's
	// settings said when they were last applied, so a changed setting is
	// applied on the next start (and a PATCH lasts until then).
	DeployedCommandTypes []string    `dynamodbav:"deployedCommandTypes"`
	DeployedEventTypes   []string    `dynamodbav:"deployedEventTypes"`
	Metadata             string      `dynamodbav:"metadata"` // a JSON object, kept verbatim
	Keys                 []KeyRecord `dynamodbav:"keys"`
	Version              int64       `dynamodbav:"version"` // optimistic lock
	CreatedAt            time.Time   `dynamodbav:"createdAt"`
	UpdatedAt            time.Time   `dynamodbav:"updatedAt"`
}

// KeyRecord is one signing key: public half in the clear, private half sealed with KMS.
type KeyRecord struct {
	KeyID     string            `dynamodbav:"keyId"`
	Alg       signing.Alg       `dynamodbav:"alg"`
	PublicKey string            `dynamodbav:"publicKey"`
	Sealed    signing.SealedKey `dynamodbav:"sealed"`
	Status    string            `dynamodbav:"status"` // "current" | "retired"
	CreatedAt time.Time         `dynamodbav:"createdAt"`
	RetiredAt *time.Time        `dynamodbav:"retiredAt,omitempty"`
}

// Instance is the repository of the instance table.
type Instance struct {
	db    *dynamodb.Client
	table string
}

// Get returns the identity, or ErrNotFound before the first start.
func (r *Instance) Get(ctx context.Context) (*InstanceRecord, error) {
	var rec InstanceRecord
	if err := getItem(ctx, r.db, r.table, map[string]types.AttributeValue{"pk": s(instancePK)}, &rec, "instance", false); err != nil {
		return nil, err
	}
	return &rec, nil
}

// Create stores the first identity; ErrExists when another start won the race.
func (r *Instance) Create(ctx context.Context, rec *InstanceRecord) error {
	rec.PK, rec.Version = instancePK, 1
	return r.put(ctx, rec, "attribute_not_exists(pk)", nil, ErrExists)
}

// Update replaces the identity if nobody changed it since it was read
// (rec.Version is the version read); ErrConflict otherwise. On success
// rec.Version is the new version.
func (r *Instance) Update(ctx context.Context, rec *InstanceRecord) error {
	read := rec.Version
	rec.PK, rec.Version = instancePK, read+1
	err := r.put(ctx, rec, "version = :v", map[string]types.AttributeValue{
		":v": &types.AttributeValueMemberN{Value: fmt.Sprint(read)},
	}, ErrConflict)
	if err != nil {
		rec.Version = read
	}
	return err
}

func (r *Instance) put(ctx context.Context, rec *InstanceRecord, cond string, values map[string]types.AttributeValue, condErr error) error {
	item, err := attributevalue.MarshalMap(rec)
	if err != nil {
		return fmt.Errorf("encode instance: %w", err)
	}
	_, err = r.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 aws.String(r.table),
		Item:                      item,
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeValues: values,
	})
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		return fmt.Errorf("put instance: %w", condErr)
	}
	if err != nil {
		return fmt.Errorf("put instance: %w", err)
	}
	return nil
}
