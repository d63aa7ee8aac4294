package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/fedgate/fedgate/shared/trace"
)

// Queue names.
const (
	Delivery = "delivery" // signed messages to peers (deliver)
	Ack      = "ack"      // EVENT_ACKs and COMMAND_RESPONSEs back to senders (ack)
	Dispatch = "dispatch" // incoming commands to execute (dispatcher)
	Fanout   = "fanout"   // published events to fan out to subscribers (fanout)
)

// MaxReceiveCount is how often a job may fail before SQS moves it to its DLQ.
const MaxReceiveCount = 5

// MaxDelay is SQS's longest DelaySeconds; longer waits are chained.
const MaxDelay = 15 * time.Minute

// Queue describes one work queue; each has a dead-letter queue DLQName().
type Queue struct {
	Name string
}

// DLQName is the name of the queue's dead-letter queue.
func (q Queue) DLQName() string { return q.Name + "-dlq" }

// Queues lists every work queue.
var Queues = []Queue{{Name: Delivery}, {Name: Ack}, {Name: Dispatch}, {Name: Fanout}}

// URLEnvVar names the environment variable with a queue's URL, e.g. QUEUE_URL_DELIVERY_DLQ.
func URLEnvVar(name string) string {
	return "QUEUE_URL_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// URLs maps queue names (work queues and DLQs) to their URLs.
type URLs map[string]string

// Job is what every queue carries: a pointer to a stored message. NotBefore
// (Unix ms) chains waits longer than SQS's 15-minute delay.
type Job struct {
	WorkspaceID string `json:"workspaceId"`
	MessageID   string `json:"messageId"`
	NotBefore   int64  `json:"notBefore,omitempty"`
	// Cursor continues a fan-out larger than one invocation.
	Cursor string `json:"cursor,omitempty"`
	// Kind of a fanout-queue job: "" for an event's fan-out, or a replay or
	// catch-up of one connection (PROTOCOL.md §8), for which the fields below
	// say what: the window of the event log (Unix ms) and the patterns.
	Kind         string   `json:"kind,omitempty"`
	ConnectionID string   `json:"connectionId,omitempty"`
	Since        int64    `json:"since,omitempty"`
	Until        int64    `json:"until,omitempty"`
	Patterns     []string `json:"patterns,omitempty"`
	// TraceParent is the trace of the work that queued the job (the Sender
	// stamps it from the context); the consumer continues it.
	TraceParent string `json:"traceparent,omitempty"`
	// A delivery held without attempts (its peer's circuit, slots or pace,
	// or an answer the sender holds) keeps what the hold needs in the job,
	// so waiting costs no write per look: the hold episode's token (the
	// message's; a job with another is stale), the time held so far, and
	// how many held answers in a row (their wait doubles).
	Token  string `json:"token,omitempty"`
	HeldMs int64  `json:"heldMs,omitempty"`
	Holds  int    `json:"holds,omitempty"`
}

// Kinds of fanout-queue jobs.
const (
	KindReplay  = "replay"
	KindCatchUp = "catchup"
)

// ParseJob decodes a job body.
func ParseJob(body string) (Job, error) {
	var j Job
	if err := json.Unmarshal([]byte(body), &j); err != nil {
		return Job{}, fmt.Errorf("parse job: %w", err)
	}
	if j.WorkspaceID == "" || j.MessageID == "" {
		return Job{}, errors.New("parse job: workspaceId and messageId are required")
	}
	return j, nil
}

// API is the part of the SQS API the sender needs.
type API interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

// Sender sends jobs to fedgate's queues.
type Sender struct {
	sqs  API
	urls URLs
}

// NewSender returns a Sender for the queues at urls.
func NewSender(client API, urls URLs) *Sender { return &Sender{sqs: client, urls: urls} }

func (s *Sender) url(queue string) (string, error) {
	u, ok := s.urls[queue]
	if !ok || u == "" {
		return "", fmt.Errorf("no URL configured for queue %s", queue)
	}
	return u, nil
}

// Send sends one job after delay (at most MaxDelay; callers chain longer
// waits with Job.NotBefore).
func (s *Sender) Send(ctx context.Context, queue string, job Job, delay time.Duration) error {
	u, err := s.url(queue)
	if err != nil {
		return err
	}
	body, _ := json.Marshal(traced(ctx, job))
	_, err = s.sqs.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl: aws.String(u), MessageBody: aws.String(string(body)),
		DelaySeconds: int32(min(delay, MaxDelay).Seconds()),
	})
	if err != nil {
		return fmt.Errorf("send job %s to %s: %w", job.MessageID, queue, err)
	}
	return nil
}

// traced gives a job the trace of ctx, unless it has one.
func traced(ctx context.Context, job Job) Job {
	if job.TraceParent == "" {
		job.TraceParent = trace.Header(ctx)
	}
	return job
}

// SendBatch sends jobs ten per call (SQS's batch limit) and returns the jobs
// that could not be sent.
func (s *Sender) SendBatch(ctx context.Context, queue string, jobs []Job) ([]Job, error) {
	u, err := s.url(queue)
	if err != nil {
		return jobs, err
	}
	var failed []Job
	var firstErr error
	for start := 0; start < len(jobs); start += 10 {
		chunk := jobs[start:min(start+10, len(jobs))]
		entries := make([]types.SendMessageBatchRequestEntry, len(chunk))
		for i, j := range chunk {
			body, _ := json.Marshal(traced(ctx, j))
			entries[i] = types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(string(body))}
		}
		out, err := s.sqs.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(u), Entries: entries})
		if err != nil {
			failed = append(failed, chunk...)
			firstErr = cmpErr(firstErr, fmt.Errorf("send batch to %s: %w", queue, err))
			continue
		}
		for _, f := range out.Failed {
			i, _ := strconv.Atoi(aws.ToString(f.Id))
			failed = append(failed, chunk[i])
			firstErr = cmpErr(firstErr, fmt.Errorf("send batch to %s: %s", queue, aws.ToString(f.Message)))
		}
	}
	return failed, firstErr
}

func cmpErr(first, next error) error {
	if first != nil {
		return first
	}
	return next
}

// Retry is the job for the next attempt at the same message, due at `at`,
// which is `delay` from now: a wait longer than MaxDelay is chained through
// NotBefore. It starts afresh: no hold episode.
func (j Job) Retry(at time.Time, delay time.Duration) Job {
	next := Job{WorkspaceID: j.WorkspaceID, MessageID: j.MessageID}
	if delay > MaxDelay {
		next.NotBefore = at.UnixMilli()
	}
	return next
}

// Held is the job that looks again after a held wait: the same hold
// episode, with the wait added to the time held when it counts.
func (j Job) Held(at time.Time, delay time.Duration, counts bool) Job {
	next := j.Retry(at, delay)
	next.Token, next.HeldMs, next.Holds = j.Token, j.HeldMs, j.Holds
	if counts {
		next.HeldMs += delay.Milliseconds()
	}
	return next
}
