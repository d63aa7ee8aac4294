package local

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/fedgate/fedgate/shared/localaws/awstest"
)

// These tests run the poller against moto through the real SDK: delays and
// visibility timeouts pass on moto's real clock, which a testing/synctest
// bubble cannot fake, so they wait on conditions with deadlines instead.

func createQueue(t *testing.T, client *sqs.Client, name string, attrs map[string]string) (url, arn string) {
	t.Helper()
	ctx := context.Background()
	out, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		t.Fatal(err)
	}
	a, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: out.QueueUrl, AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
	})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.QueueUrl), a.Attributes["QueueArn"]
}

// queueWithOneMessage is a fresh queue holding one message.
func queueWithOneMessage(t *testing.T) (client *sqs.Client, url, arn string) {
	t.Helper()
	client = sqs.NewFromConfig(awstest.Config(t))
	url, arn = createQueue(t, client, awstest.Prefix(t)+"jobs", nil)
	if _, err := client.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("x")}); err != nil {
		t.Fatal(err)
	}
	return client, url, arn
}

// The poller behaves like an event source mapping with ReportBatchItemFailures:
// batches of at most 10, successes deleted, reported failures redelivered
// after the visibility timeout, and moved to the DLQ by the server's redrive
// policy once received maxReceiveCount times.
func TestPollerPartialBatchFailureAndRedrive(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client := sqs.NewFromConfig(awstest.Config(t))
	prefix := awstest.Prefix(t)
	dlqURL, dlqARN := createQueue(t, client, prefix+"dlq", nil)
	redrive, _ := json.Marshal(map[string]any{"deadLetterTargetArn": dlqARN, "maxReceiveCount": 2})
	queueURL, queueARN := createQueue(t, client, prefix+"jobs", map[string]string{"RedrivePolicy": string(redrive)})

	for i := range 12 {
		body := "ok"
		if i == 3 {
			body = "poison"
		}
		if _, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String(body)}); err != nil {
			t.Fatal(err)
		}
	}

	var mu sync.Mutex
	var batchSizes []int
	okCount, poisonSeen := 0, 0
	p := &Poller{
		SQS: client, QueueURL: queueURL, QueueARN: queueARN, Visibility: time.Second,
		Log: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Handler: func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			mu.Lock()
			defer mu.Unlock()
			batchSizes = append(batchSizes, len(ev.Records))
			var resp events.SQSEventResponse
			for _, r := range ev.Records {
				if r.EventSourceARN != queueARN || r.EventSource != "aws:sqs" || r.Attributes["ApproximateReceiveCount"] == "" {
					t.Errorf("record lacks event source mapping fields: %+v", r)
				}
				if r.Body == "poison" {
					poisonSeen++
					resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
					continue
				}
				okCount++
			}
			return resp, nil
		},
	}
	go p.Run(ctx)

	var dlqBody string
	deadline := time.Now().Add(20 * time.Second)
	for dlqBody == "" && time.Now().Before(deadline) {
		out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(dlqURL), WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) > 0 {
			dlqBody = aws.ToString(out.Messages[0].Body)
		}
	}
	cancel()
	mu.Lock()
	defer mu.Unlock()
	if dlqBody != "poison" {
		t.Fatalf("DLQ got %q, want the poison message", dlqBody)
	}
	if okCount != 11 {
		t.Errorf("%d good messages handled, want each of 11 exactly once", okCount)
	}
	if poisonSeen != 2 {
		t.Errorf("poison message seen %d times, want maxReceiveCount = 2", poisonSeen)
	}
	for _, n := range batchSizes {
		if n > 10 {
			t.Errorf("batch of %d records, more than 10", n)
		}
	}
	attrs, _ := client.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(queueURL),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible},
	})
	if attrs.Attributes["ApproximateNumberOfMessages"] != "0" || attrs.Attributes["ApproximateNumberOfMessagesNotVisible"] != "0" {
		t.Errorf("queue not drained: %v", attrs.Attributes)
	}
}

// A handler error fails the whole batch: nothing is deleted.
func TestPollerHandlerErrorKeepsBatch(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client, queueURL, queueARN := queueWithOneMessage(t)
	var mu sync.Mutex
	calls := 0
	p := &Poller{
		SQS: client, QueueURL: queueURL, QueueARN: queueARN, Visibility: time.Second,
		Log: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Handler: func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			mu.Lock()
			defer mu.Unlock()
			calls++
			if calls == 1 {
				return events.SQSEventResponse{}, io.ErrUnexpectedEOF
			}
			if calls == 2 {
				panic("boom")
			}
			return events.SQSEventResponse{}, nil
		},
	}
	go p.Run(ctx)
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := calls
		mu.Unlock()
		if n >= 3 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	if calls < 3 {
		t.Fatalf("message delivered %d times; an error and a panic must each lead to redelivery", calls)
	}
}

// Like a mapping's maximum concurrency, a batch that takes long does not
// stop the next batches; no more than Concurrency run at once.
func TestPollerConcurrency(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client := sqs.NewFromConfig(awstest.Config(t))
	queueURL, queueARN := createQueue(t, client, awstest.Prefix(t)+"jobs", nil)
	send := func(body string) {
		if _, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String(body)}); err != nil {
			t.Fatal(err)
		}
	}
	release, slowRuns := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	fast, running, most := 0, 0, 0
	p := &Poller{
		SQS: client, QueueURL: queueURL, QueueARN: queueARN, Visibility: time.Minute, BatchSize: 1, Concurrency: 3,
		Log: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Handler: func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			mu.Lock()
			running++
			most = max(most, running)
			mu.Unlock()
			defer func() { mu.Lock(); running--; mu.Unlock() }()
			if ev.Records[0].Body == "slow" {
				close(slowRuns)
				<-release
				return events.SQSEventResponse{}, nil
			}
			time.Sleep(50 * time.Millisecond) // some work, so that fast batches overlap
			mu.Lock()
			fast++
			mu.Unlock()
			return events.SQSEventResponse{}, nil
		},
	}
	send("slow")
	go p.Run(ctx)
	select {
	case <-slowRuns:
	case <-time.After(15 * time.Second):
		t.Fatal("the slow batch was not handed out")
	}
	for range 6 {
		send("fast")
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := fast
		mu.Unlock()
		if n == 6 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	close(release)
	mu.Lock()
	defer mu.Unlock()
	if fast != 6 {
		t.Fatalf("%d of 6 fast batches handled while a slow one ran", fast)
	}
	if most > 3 {
		t.Fatalf("%d invocations at once, more than the concurrency of 3", most)
	}
}

// A batch that runs longer than the visibility timeout is not handed out
// again while it runs (in AWS the visibility is six times the function's
// timeout): a slow delivery is not a failed one.
func TestPollerKeepsARunningBatchInvisible(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client, queueURL, queueARN := queueWithOneMessage(t)
	var mu sync.Mutex
	calls := 0
	finished := make(chan struct{})
	p := &Poller{
		SQS: client, QueueURL: queueURL, QueueARN: queueARN, Visibility: time.Second, Concurrency: 2,
		Log: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Handler: func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			mu.Lock()
			calls++
			first := calls == 1
			mu.Unlock()
			if first {
				time.Sleep(4 * time.Second) // four visibility timeouts
				close(finished)
			}
			return events.SQSEventResponse{}, nil
		},
	}
	go p.Run(ctx)
	<-finished
	// Nothing to wait on: a message wrongly visible again would be received
	// within moto's real clock, which a synctest bubble cannot fake.
	time.Sleep(2 * time.Second)
	cancel()
	mu.Lock()
	defer mu.Unlock()
	if calls != 1 {
		t.Fatalf("the message was handled %d times, want once", calls)
	}
}

// A poller waiting in a 20 s long poll on an empty queue stops as soon as its
// context ends (the runner's Stop), as the call is cancelled with it.
func TestPollerStopsDuringALongPoll(t *testing.T) {
	polling := make(chan struct{}, 1)
	client := sqs.NewFromConfig(awstest.Config(t), func(o *sqs.Options) {
		o.APIOptions = append(o.APIOptions, func(s *middleware.Stack) error {
			return s.Finalize.Add(middleware.FinalizeMiddlewareFunc("signalReceive",
				func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
					if awsmiddleware.GetOperationName(ctx) == "ReceiveMessage" {
						select {
						case polling <- struct{}{}:
						default:
						}
					}
					return next.HandleFinalize(ctx, in)
				}), middleware.After)
		})
	})
	url, arn := createQueue(t, client, awstest.Prefix(t)+"empty", nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := &Poller{
		SQS: client, QueueURL: url, QueueARN: arn, Visibility: time.Second,
		Log: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Handler: func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
			return events.SQSEventResponse{}, nil
		},
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Run(ctx)
	}()
	select {
	case <-polling:
	case <-time.After(15 * time.Second):
		t.Fatal("the poller did not poll")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("the poller did not stop within 3 s of its context ending")
	}
}
