package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"
)

// Store holds one repository per table of an instance.
type Store struct {
	Instance      *Instance
	Connections   *Connections
	Messages      *Messages
	Invites       *Invites
	Subscriptions *Subscriptions
	Agents        *Agents
	Limits        *Limits
	Operations    *Operations

	db    *dynamodb.Client
	names Names
}

// Retention is how long stored messages live.
type Retention struct {
	// Messages expire this long after they were created (DynamoDB TTL).
	Messages time.Duration
	// Answers: the first answer to an incoming envelope lives at least this
	// long (the sender's whole retry horizon plus a day), whatever Messages says.
	Answers time.Duration
}

// Open returns the repositories of the tables named by names. It makes one
// SDK client, so call it once per cold start.
func Open(awsCfg aws.Config, names Names, retention Retention) *Store {
	db := dynamodb.NewFromConfig(awsCfg)
	return &Store{
		Instance:      &Instance{db: db, table: names[InstanceTable]},
		Connections:   &Connections{db: db, table: names[ConnectionsTable], now: time.Now},
		Messages:      &Messages{db: db, table: names[MessagesTable], retention: retention, now: time.Now},
		Invites:       &Invites{db: db, table: names[InvitesTable]},
		Subscriptions: &Subscriptions{db: db, table: names[SubscriptionsTable], now: time.Now},
		Agents:        &Agents{db: db, table: names[AgentsTable]},
		Limits:        &Limits{db: db, table: names[LimitsTable]},
		Operations:    &Operations{db: db, table: names[MessagesTable], retention: retention.Messages},
		db:            db,
		names:         names,
	}
}

// Write is one item of a transaction, made by a repository (a message to
// create, an invite to consume, …) and handed to another repository's
// transactional change, so both are stored together or not at all.
type Write struct{ item types.TransactWriteItem }

func writesOf(ws []Write) []types.TransactWriteItem {
	out := make([]types.TransactWriteItem, len(ws))
	for i, w := range ws {
		out[i] = w.item
	}
	return out
}

// CreateTables creates every table in Tables under names, skipping those that
// exist. In AWS the CDK stack creates them; this serves the local runner and
// tests, from the same definitions.
func CreateTables(ctx context.Context, awsCfg aws.Config, names Names) error {
	db := dynamodb.NewFromConfig(awsCfg)
	for _, t := range Tables {
		if err := createTable(ctx, db, names[t.Name], t); err != nil {
			return err
		}
	}
	return nil
}

// DeleteTables deletes the named tables, local development only: test
// clusters drop what they made, and the first error is returned after
// trying them all.
func DeleteTables(ctx context.Context, awsCfg aws.Config, names Names) error {
	db := dynamodb.NewFromConfig(awsCfg)
	var first error
	for _, t := range Tables {
		if _, err := db.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(names[t.Name])}); err != nil && first == nil {
			first = fmt.Errorf("delete table %s: %w", names[t.Name], err)
		}
	}
	return first
}

func createTable(ctx context.Context, db *dynamodb.Client, name string, t Table) error {
	attrs := map[string]bool{}
	keySchema := func(pk, sk string) []types.KeySchemaElement {
		ks := []types.KeySchemaElement{{AttributeName: aws.String(pk), KeyType: types.KeyTypeHash}}
		attrs[pk] = true
		if sk != "" {
			ks = append(ks, types.KeySchemaElement{AttributeName: aws.String(sk), KeyType: types.KeyTypeRange})
			attrs[sk] = true
		}
		return ks
	}
	in := &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		KeySchema:   keySchema(t.PartitionKey, t.SortKey),
	}
	for _, ix := range t.Indexes {
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, types.GlobalSecondaryIndex{
			IndexName:  aws.String(ix.Name),
			KeySchema:  keySchema(ix.PartitionKey, ix.SortKey),
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		})
	}
	for a := range attrs {
		in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{
			AttributeName: aws.String(a), AttributeType: types.ScalarAttributeTypeS,
		})
	}
	_, err := db.CreateTable(ctx, in)
	var inUse *types.ResourceInUseException
	if errors.As(err, &inUse) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create table %s: %w", name, err)
	}
	if t.TTLAttribute != "" {
		_, err = db.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
			TableName: aws.String(name),
			TimeToLiveSpecification: &types.TimeToLiveSpecification{
				AttributeName: aws.String(t.TTLAttribute), Enabled: aws.Bool(true),
			},
		})
		if err != nil {
			return fmt.Errorf("enable TTL on %s: %w", name, err)
		}
	}
	return nil
}

// putOnce makes a conditional PutItem (a new item, a free slot) whose own
// earlier attempt can fail its retry's condition. When an earlier attempt
// of this call may have been applied (its answer was lost to a reset
// connection, a timeout or a 5xx, and the SDK retried) and the retry's
// condition failed on an item holding exactly what in writes, the item is
// that attempt's: success, not a collision. Another writer's identical item
// is still a collision unless this call's own first attempt may have
// written it. Anything else returns the *types.ConditionalCheckFailedException
// for the caller to name.
func putOnce(ctx context.Context, db *dynamodb.Client, in *dynamodb.PutItemInput) error {
	in.ReturnValuesOnConditionCheckFailure = types.ReturnValuesOnConditionCheckFailureAllOld
	var w retries
	_, err := db.PutItem(ctx, in, w.watch)
	var failed *types.ConditionalCheckFailedException
	if w.mayHaveApplied && errors.As(err, &failed) && reflect.DeepEqual(failed.Item, in.Item) {
		return nil
	}
	return err
}

// retries watches the attempts the SDK makes for one call (pass its watch
// method as a per-call option). mayHaveApplied is set when an attempt failed
// after its request may have reached DynamoDB: an answer lost on the way
// back or a 5xx. A refused connection, a throttle or any other 4xx were
// certainly not applied, so after those a retry's failed condition is
// someone else's write.
type retries struct {
	mayHaveApplied bool
}

func (w *retries) watch(o *dynamodb.Options) {
	m := middleware.FinalizeMiddlewareFunc("fedgateWatchRetries", func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
		out, md, err := next.HandleFinalize(ctx, in)
		if err != nil && mayHaveApplied(err) {
			w.mayHaveApplied = true
		}
		return out, md, err
	})
	// After the retry middleware, so it runs once per attempt.
	o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error { return st.Finalize.Add(m, middleware.After) })
}

// mayHaveApplied reports whether an attempt that failed with err may still
// have been applied by DynamoDB.
func mayHaveApplied(err error) bool {
	var resp interface{ HTTPStatusCode() int }
	if errors.As(err, &resp) && resp.HTTPStatusCode() > 0 {
		return resp.HTTPStatusCode() >= 500
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return false // never connected
	}
	return !errors.Is(err, context.Canceled)
}
