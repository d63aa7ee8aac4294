package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Create makes every queue and its DLQ named prefix+name (the local runner
// and tests; CDK does this in AWS) and returns their URLs and ARNs.
func Create(ctx context.Context, client *sqs.Client, prefix string, visibility time.Duration) (urls URLs, arns map[string]string, err error) {
	urls, arns = URLs{}, map[string]string{}
	create := func(name string, attrs map[string]string) error {
		out, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(prefix + name), Attributes: attrs})
		if err != nil {
			return fmt.Errorf("create queue %s: %w", name, err)
		}
		a, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
			QueueUrl: out.QueueUrl, AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
		})
		if err != nil {
			return fmt.Errorf("queue %s attributes: %w", name, err)
		}
		urls[name], arns[name] = aws.ToString(out.QueueUrl), a.Attributes["QueueArn"]
		return nil
	}
	for _, q := range Queues {
		if err := create(q.DLQName(), map[string]string{"MessageRetentionPeriod": "1209600"}); err != nil {
			return nil, nil, err
		}
		redrive, _ := json.Marshal(map[string]any{"deadLetterTargetArn": arns[q.DLQName()], "maxReceiveCount": MaxReceiveCount})
		if err := create(q.Name, map[string]string{
			"RedrivePolicy":     string(redrive),
			"VisibilityTimeout": fmt.Sprint(int(visibility.Seconds())),
		}); err != nil {
			return nil, nil, err
		}
	}
	return urls, arns, nil
}
