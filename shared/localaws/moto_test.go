package localaws_test

import (
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"net/http/httptrace"
	"strconv"
	"sync"
	"sync/atomic"
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

// moto answers HTTP/1.1 with keep-alive (the launcher) and every SDK
// configuration for it shares one connection pool, so calls reuse
// connections instead of dialling one each, sequentially and when many run
// at once.
func TestConnectionsAreReused(t *testing.T) {
	ctx := context.Background()
	cfg := awstest.Config(t)
	client := sqs.NewFromConfig(cfg)
	q, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(awstest.Prefix(t) + "reuse")})
	if err != nil {
		t.Fatal(err)
	}
	var dialled, reused atomic.Int32
	traced := httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		if info.Reused {
			reused.Add(1)
		} else {
			dialled.Add(1)
		}
	}})
	const calls = 20
	db := dynamodb.NewFromConfig(awstest.Config(t)) // another Config: the same pool
	for i := range calls {
		var err error
		if i%2 == 0 {
			_, err = client.GetQueueAttributes(traced, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl})
		} else {
			_, err = db.ListTables(traced, &dynamodb.ListTablesInput{Limit: aws.Int32(1)})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if d := dialled.Load(); d > 1 {
		t.Errorf("%d sequential calls dialled %d connections (%d reused), want at most 1", calls, d, reused.Load())
	}

	// Many at once: each finds its answer on its own connection.
	var wg sync.WaitGroup
	errs := make(chan error, 32*5)
	for g := range 32 {
		wg.Go(func() {
			for i := range 5 {
				body := fmt.Sprintf("g%d-%d", g, i)
				out, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String(body)})
				if err == nil && aws.ToString(out.MD5OfMessageBody) != fmt.Sprintf("%x", md5.Sum([]byte(body))) {
					err = fmt.Errorf("answer to %s carries another message's digest", body)
				}
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// A long poll whose caller gives up returns at once, and moto does not hand
// the next message to the abandoned poll (it would stay hidden, in flight
// to a closed connection, for the visibility timeout).
func TestCancelledLongPoll(t *testing.T) {
	ctx := context.Background()
	client := sqs.NewFromConfig(awstest.Config(t))
	q, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(awstest.Prefix(t) + "longpoll")})
	if err != nil {
		t.Fatal(err)
	}
	pollCtx, cancel := context.WithCancel(ctx)
	sent := make(chan struct{})
	pollCtx = httptrace.WithClientTrace(pollCtx, &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { close(sent) }})
	returned := make(chan error, 1)
	go func() {
		_, err := client.ReceiveMessage(pollCtx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, WaitTimeSeconds: 20, VisibilityTimeout: 60})
		returned <- err
	}()
	<-sent
	cancel()
	select {
	case err := <-returned:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled long poll returned %v, want context.Canceled", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("a cancelled long poll did not return within 3 s")
	}

	if _, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String("next")}); err != nil {
		t.Fatal(err)
	}
	out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, WaitTimeSeconds: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) != 1 || aws.ToString(out.Messages[0].Body) != "next" {
		t.Fatalf("received %d messages after the abandoned poll, want the one sent", len(out.Messages))
	}
}
