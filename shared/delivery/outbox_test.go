package delivery_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/fedgate/fedgate/shared/delivery"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/ids"
	"github.com/fedgate/fedgate/shared/localaws/awstest"
	"github.com/fedgate/fedgate/shared/queue"
	"github.com/fedgate/fedgate/shared/store"
)

// Crash safety: the message is stored, then sending its job fails (here SQS
// answers with an error: the queue URL names no queue, which is what a crash
// between the two steps leaves behind too). The marker stays, the sweeper
// sends the job once, and a second sweep sends nothing.
func TestOutboxSurvivesAFailureBetweenStoreAndSend(t *testing.T) {
	ctx := context.Background()
	msgs, urls := awstest.Store(t).Messages, awstest.Queues(t)
	client := sqs.NewFromConfig(awstest.Config(t))
	log := slog.New(slog.DiscardHandler)
	broken := queue.URLs{}
	for k, v := range urls {
		broken[k] = v + "-missing"
	}
	crashing := delivery.NewOutbox(msgs, queue.NewSender(client, broken), log)
	now := time.Now().UTC()
	rec := store.NewRecord(federation.Message{
		ID: ids.New(), WorkspaceID: "ws-1", ConnectionID: "c-1", MessageType: federation.TypeCommand,
		Direction: federation.Outbound, Status: federation.MsgPending, CreatedAt: now, UpdatedAt: now,
	}, federation.EnvCommand, []byte(`{"commandType":"x","payload":{}}`), queue.Delivery)
	if err := crashing.Create(ctx, rec); err != nil {
		t.Fatalf("Create must succeed once the message is stored: %v", err)
	}
	if n := receiveAll(t, client, urls[queue.Delivery]); len(n) != 0 {
		t.Fatalf("a job reached the queue although sending failed: %v", n)
	}
	stored, err := msgs.Get(ctx, "ws-1", rec.ID)
	if err != nil || stored.Outbox != queue.Delivery {
		t.Fatalf("marker missing after the failed send: %+v %v", stored, err)
	}

	healthy := delivery.NewOutbox(msgs, queue.NewSender(client, urls), log)
	if n, err := healthy.Sweep(ctx, time.Now(), time.Hour); err != nil || n != 0 {
		t.Fatalf("sweep within the grace period sent %d (%v)", n, err)
	}
	if n, err := healthy.Sweep(ctx, time.Now().Add(time.Minute), 0); err != nil || n != 1 {
		t.Fatalf("sweep sent %d (%v), want 1", n, err)
	}
	jobs := receiveAll(t, client, urls[queue.Delivery])
	if len(jobs) != 1 || jobs[0].MessageID != rec.ID || jobs[0].WorkspaceID != "ws-1" {
		t.Fatalf("queue holds %v, want the one job", jobs)
	}
	if n, _ := healthy.Sweep(ctx, time.Now().Add(time.Minute), 0); n != 0 {
		t.Fatalf("second sweep sent %d jobs again", n)
	}
}

func receiveAll(t *testing.T, client *sqs.Client, url string) []queue.Job {
	t.Helper()
	out, err := client.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	var jobs []queue.Job
	for _, m := range out.Messages {
		var j queue.Job
		_ = json.Unmarshal([]byte(aws.ToString(m.Body)), &j)
		jobs = append(jobs, j)
	}
	return jobs
}
