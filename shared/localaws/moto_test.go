package localaws_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/fedgate/fedgate/shared/localaws/awstest"
)

// The launcher replaces how moto's SQS finds available, delayed and
// in-flight messages (for speed). Every retry and held delivery relies on
// delays and visibility being honoured, so this pins what SQS must answer.
func TestQueueDelaysAndVisibility(t *testing.T) {
	ctx := context.Background()
	client := sqs.NewFromConfig(awstest.Config(t))
	q, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(awstest.Prefix(t) + "delays")})
	if err != nil {
		t.Fatal(err)
	}
	url := q.QueueUrl
	send := func(body string, delay int32) {
		t.Helper()
		if _, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: url, MessageBody: aws.String(body), DelaySeconds: delay}); err != nil {
			t.Fatal(err)
		}
	}
	counts := func() (available, delayed, inFlight int) {
		t.Helper()
		out, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: url, AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll}})
		if err != nil {
			t.Fatal(err)
		}
		n := func(name types.QueueAttributeName) int {
			v, _ := strconv.Atoi(out.Attributes[string(name)])
			return v
		}
		return n(types.QueueAttributeNameApproximateNumberOfMessages), n(types.QueueAttributeNameApproximateNumberOfMessagesDelayed), n(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)
	}
	receive := func(visibility int32) []string {
		t.Helper()
		out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: url, MaxNumberOfMessages: 10, VisibilityTimeout: visibility})
		if err != nil {
			t.Fatal(err)
		}
		var bodies []string
		for _, m := range out.Messages {
			bodies = append(bodies, aws.ToString(m.Body))
		}
		return bodies
	}
	wantCounts := func(step string, available, delayed, inFlight int) {
		t.Helper()
		if a, d, f := counts(); a != available || d != delayed || f != inFlight {
			t.Errorf("%s: available %d, delayed %d, in flight %d; want %d, %d, %d", step, a, d, f, available, delayed, inFlight)
		}
	}

	send("now", 0)
	send("later", 2)
	wantCounts("after sending", 1, 1, 0)
	if got := receive(1); len(got) != 1 || got[0] != "now" {
		t.Fatalf("first receive %v, want only the undelayed message", got)
	}
	wantCounts("while it is in flight", 0, 1, 1)
	if got := receive(1); len(got) != 0 {
		t.Fatalf("receive during visibility and delay: %v, want nothing", got)
	}
	time.Sleep(2100 * time.Millisecond)
	wantCounts("after the delay and the visibility timeout", 2, 0, 0)
	if got := receive(30); len(got) != 2 {
		t.Fatalf("receive after the delay: %v, want both messages", got)
	}
}

// The launcher makes TransactWriteItems honour ClientRequestToken as
// DynamoDB does: the same token and items answer as the first call did
// without writing again; the same token with other items is refused.
func TestTransactionTokens(t *testing.T) {
	ctx := context.Background()
	db := dynamodb.NewFromConfig(awstest.Config(t))
	table := awstest.Prefix(t) + "tokens"
	if _, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: &table, BillingMode: dbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []dbtypes.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: dbtypes.ScalarAttributeTypeS}},
		KeySchema:            []dbtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: dbtypes.KeyTypeHash}},
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: &table}) })
	create := func(token, pk string) error {
		_, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{ClientRequestToken: aws.String(token), TransactItems: []dbtypes.TransactWriteItem{{
			Put: &dbtypes.Put{TableName: &table, Item: map[string]dbtypes.AttributeValue{"pk": &dbtypes.AttributeValueMemberS{Value: pk}}, ConditionExpression: aws.String("attribute_not_exists(pk)")},
		}}})
		return err
	}
	var cancelled *dbtypes.TransactionCanceledException
	var mismatch *dbtypes.IdempotentParameterMismatchException
	for _, tt := range []struct {
		name, token, pk string
		ok              func(error) bool
	}{
		{"first call", "t1", "a", func(err error) bool { return err == nil }},
		{"same token, same items", "t1", "a", func(err error) bool { return err == nil }},
		{"new token, same items", "t2", "a", func(err error) bool { return errors.As(err, &cancelled) }},
		{"same token, other items", "t1", "b", func(err error) bool { return errors.As(err, &mismatch) }},
	} {
		if err := create(tt.token, tt.pk); !tt.ok(err) {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
	out, err := db.Scan(ctx, &dynamodb.ScanInput{TableName: &table})
	if err != nil {
		t.Fatal(err)
	}
	if out.Count != 1 {
		t.Fatalf("table holds %d items, want the one written", out.Count)
	}
}
