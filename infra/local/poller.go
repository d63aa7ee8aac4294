package local

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/fedgate/fedgate/shared/localaws"
)

// SQSHandler is what a queue-triggered function runs (ReportBatchItemFailures).
type SQSHandler func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error)

// Poller behaves like a Lambda event source mapping: it receives batches of up
// to BatchSize, invokes the handler, deletes what succeeded and leaves the
// reported failures (or the whole batch, if the handler errs) to reappear
// after the visibility timeout. Like a mapping's maximum concurrency, up to
// Concurrency invocations run at once: a slow batch does not stop the next
// from being received. The queue's redrive policy, enforced by the server,
// moves messages received too often to the DLQ.
type Poller struct {
	SQS         *sqs.Client
	QueueURL    string
	QueueARN    string
	Handler     SQSHandler
	BatchSize   int32
	Concurrency int // 0: 1
	Visibility  time.Duration
	Log         *slog.Logger
}

// Run polls until ctx ends and its invocations have finished.
func (p *Poller) Run(ctx context.Context) {
	batch := p.BatchSize
	if batch <= 0 || batch > 10 {
		batch = 10
	}
	running := make(chan struct{}, max(p.Concurrency, 1))
	var wg sync.WaitGroup
	defer wg.Wait()
	for ctx.Err() == nil {
		// Receive only when an invocation may start, as a mapping at its
		// maximum concurrency stops polling.
		select {
		case running <- struct{}{}:
		case <-ctx.Done():
			return
		}
		out, err := p.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:            aws.String(p.QueueURL),
			MaxNumberOfMessages: batch,
			// A mapping long-polls for 20 s: an empty queue costs one call
			// every 20 s, not one a second. Stop still ends the poll at
			// once: cancelling ctx closes the call's connection, and moto
			// (the launcher) ends a poll whose client hung up.
			WaitTimeSeconds:             20,
			VisibilityTimeout:           int32(p.Visibility.Seconds()),
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
			MessageAttributeNames:       []string{"All"},
		})
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			p.Log.Warn("receive failed", "queue", p.QueueURL, "error", err.Error())
			<-running
			sleep(ctx, time.Second)
			continue
		}
		if len(out.Messages) == 0 {
			<-running
			continue
		}
		wg.Go(func() {
			defer func() { <-running }()
			p.dispatch(ctx, out.Messages)
		})
	}
}

// dispatch invokes the handler with one batch and settles it.
func (p *Poller) dispatch(ctx context.Context, msgs []types.Message) {
	ev := events.SQSEvent{Records: make([]events.SQSMessage, len(msgs))}
	for i, m := range msgs {
		ev.Records[i] = toRecord(m, p.QueueARN)
	}
	stop := p.keepInvisible(ctx, msgs)
	resp, err := p.invoke(ctx, ev)
	stop()
	if err != nil {
		p.Log.Warn("batch failed; messages return after the visibility timeout", "queue", p.QueueURL, "error", err.Error())
		return
	}
	failed := map[string]bool{}
	for _, f := range resp.BatchItemFailures {
		failed[f.ItemIdentifier] = true
	}
	var entries []types.DeleteMessageBatchRequestEntry
	for i, m := range msgs {
		if !failed[aws.ToString(m.MessageId)] {
			entries = append(entries, types.DeleteMessageBatchRequestEntry{
				Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle,
			})
		}
	}
	if len(entries) == 0 {
		return
	}
	// The handler's work is done; deleting must not be cut short by shutdown.
	if _, err := p.SQS.DeleteMessageBatch(context.WithoutCancel(ctx), &sqs.DeleteMessageBatchInput{
		QueueUrl: aws.String(p.QueueURL), Entries: entries,
	}); err != nil {
		p.Log.Warn("delete failed; messages will be redelivered", "queue", p.QueueURL, "error", err.Error())
	}
}

// keepInvisible keeps a running batch's messages invisible until stop is
// called. In AWS a queue's visibility timeout is at least six times its
// consumer's timeout, so a message never reappears while its invocation
// runs; the local queues' visibility is short (a failed or crashed batch
// comes back quickly), so a slow but living invocation extends it instead.
func (p *Poller) keepInvisible(ctx context.Context, msgs []types.Message) (stop func()) {
	if p.Visibility <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(p.Visibility / 2)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			entries := make([]types.ChangeMessageVisibilityBatchRequestEntry, len(msgs))
			for i, m := range msgs {
				entries[i] = types.ChangeMessageVisibilityBatchRequestEntry{
					Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: int32(p.Visibility.Seconds()),
				}
			}
			if _, err := p.SQS.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{
				QueueUrl: aws.String(p.QueueURL), Entries: entries,
			}); err != nil && ctx.Err() == nil {
				p.Log.Warn("visibility not extended", "queue", p.QueueURL, "error", err.Error())
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// invoke runs the handler, turning a panic into a failed batch as Lambda does.
func (p *Poller) invoke(ctx context.Context, ev events.SQSEvent) (resp events.SQSEventResponse, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errors.New("handler panicked")
		}
	}()
	return p.Handler(ctx, ev)
}

func toRecord(m types.Message, queueARN string) events.SQSMessage {
	attrs := map[string]string{}
	for k, v := range m.Attributes {
		attrs[k] = v
	}
	msgAttrs := map[string]events.SQSMessageAttribute{}
	for k, v := range m.MessageAttributes {
		msgAttrs[k] = events.SQSMessageAttribute{
			DataType: aws.ToString(v.DataType), StringValue: v.StringValue, BinaryValue: v.BinaryValue,
		}
	}
	return events.SQSMessage{
		MessageId:              aws.ToString(m.MessageId),
		ReceiptHandle:          aws.ToString(m.ReceiptHandle),
		Body:                   aws.ToString(m.Body),
		Md5OfBody:              aws.ToString(m.MD5OfBody),
		Md5OfMessageAttributes: aws.ToString(m.MD5OfMessageAttributes),
		Attributes:             attrs,
		MessageAttributes:      msgAttrs,
		EventSource:            "aws:sqs",
		EventSourceARN:         queueARN,
		AWSRegion:              localaws.Region,
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
