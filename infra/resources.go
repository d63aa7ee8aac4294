package main

import (
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/metrics"
	"github.com/fedgate/fedgate/shared/queue"
	"github.com/fedgate/fedgate/shared/routes"
	"github.com/fedgate/fedgate/shared/store"
)

func (b *builder) sealingKey() {
	b.key = awskms.NewKey(b.stack, jsii.String("SigningKeySealer"), &awskms.KeyProps{
		Description:       jsii.String("Seals fedgate " + b.props.InstanceName + "'s private signing keys (envelope encryption)"),
		EnableKeyRotation: jsii.Bool(true),
		RemovalPolicy:     b.removal,
	})
}

// alarmTopic is where every alarm goes (and, with fedgate:alarmEmail, an
// operator's inbox).
func (b *builder) alarmTopic() {
	// The alarm topic has its own key: CloudWatch must be allowed to use it,
	// and nothing should be allowed to use the key that seals signing keys.
	// It holds nothing worth keeping: it goes with the stack.
	topicKey := awskms.NewKey(b.stack, jsii.String("AlarmTopicKey"), &awskms.KeyProps{
		Description: jsii.String("Encrypts fedgate " + b.props.InstanceName + "'s alarm topic"), EnableKeyRotation: jsii.Bool(true),
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	topicKey.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey*"),
		Resources:  jsii.Strings("*"),
	}), nil)
	b.topic = awssns.NewTopic(b.stack, jsii.String("Alarms"), &awssns.TopicProps{
		DisplayName: jsii.String("fedgate " + b.props.InstanceName + " alarms"),
		MasterKey:   topicKey,
		EnforceSSL:  jsii.Bool(true),
	})
	if b.props.AlarmEmail != "" {
		b.topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(b.props.AlarmEmail), nil))
	}
}

// alarm raises the alarm topic as soon as metric exceeds threshold once.
// The alarm is named fedgate-<instance>-<id> (the subject of its e-mail);
// its description ends with where to look: the instance's dashboard.
// metric may be a math expression of at most 10 metrics (CloudWatch's limit).
func (b *builder) alarm(id string, metric awscloudwatch.IMetric, threshold float64, description string) {
	if n := len(description + b.dashboardPointer(strings.Repeat("x", regionRoom))); n > maxAlarmDescription {
		panic(fmt.Sprintf("infra: alarm %s: a description of %d characters, CloudWatch allows %d", id, n, maxAlarmDescription))
	}
	a := awscloudwatch.NewAlarm(b.stack, jsii.String(id), &awscloudwatch.AlarmProps{
		AlarmName: jsii.String(b.physicalName(id)),
		Metric:    metric, Threshold: jsii.Number(threshold), EvaluationPeriods: jsii.Number(1),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		AlarmDescription:   jsii.String(description + b.dashboardPointer(*b.stack.Region())),
	})
	a.AddAlarmAction(awscloudwatchactions.NewSnsAction(b.topic))
	b.alarms = append(b.alarms, a)
}

// dashboardPointer ends every alarm's description: the dashboard's name
// and its console address in region (the stack's, a token until deployed).
func (b *builder) dashboardPointer(region string) string {
	return " Dashboard " + b.dashboardName() + ": " + b.dashboardURL(region)
}

const (
	// maxAlarmDescription is CloudWatch's limit of an alarm's description.
	maxAlarmDescription = 1024
	// regionRoom is what alarm counts for a region's name, which is a token
	// at synth: more than any region's code has (ap-southeast-1: 14).
	regionRoom = 20
)

// tables creates store.Tables, the definitions the local runner uses too.
func (b *builder) tables() {
	b.tableByName = map[string]awsdynamodb.Table{}
	for _, t := range store.Tables {
		props := &awsdynamodb.TableProps{
			PartitionKey:                     &awsdynamodb.Attribute{Name: jsii.String(t.PartitionKey), Type: awsdynamodb.AttributeType_STRING},
			BillingMode:                      awsdynamodb.BillingMode_PAY_PER_REQUEST,
			PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{PointInTimeRecoveryEnabled: jsii.Bool(true)},
			DeletionProtection:               jsii.Bool(b.props.DeletionProtection),
			RemovalPolicy:                    b.removal,
			Encryption:                       awsdynamodb.TableEncryption_AWS_MANAGED,
		}
		if t.SortKey != "" {
			props.SortKey = &awsdynamodb.Attribute{Name: jsii.String(t.SortKey), Type: awsdynamodb.AttributeType_STRING}
		}
		if t.TTLAttribute != "" {
			props.TimeToLiveAttribute = jsii.String(t.TTLAttribute)
		}
		table := awsdynamodb.NewTable(b.stack, jsii.String(pascal(t.Name)+"Table"), props)
		for _, ix := range t.Indexes {
			gsi := &awsdynamodb.GlobalSecondaryIndexProps{
				IndexName:      jsii.String(ix.Name),
				PartitionKey:   &awsdynamodb.Attribute{Name: jsii.String(ix.PartitionKey), Type: awsdynamodb.AttributeType_STRING},
				ProjectionType: awsdynamodb.ProjectionType_ALL,
			}
			if ix.SortKey != "" {
				gsi.SortKey = &awsdynamodb.Attribute{Name: jsii.String(ix.SortKey), Type: awsdynamodb.AttributeType_STRING}
			}
			table.AddGlobalSecondaryIndex(gsi)
		}
		b.tableByName[t.Name] = table
	}
}

// queues creates queue.Queues, each with its DLQ, and the alarms that say
// work is failing for good or falling behind.
func (b *builder) queues() {
	// Visibility timeout: at least 6× the longest timeout of the queue's consumers.
	visibility := map[string]float64{}
	for _, r := range routes.All {
		for _, q := range r.Queues {
			visibility[q] = max(visibility[q], 6*r.FunctionTimeout().Seconds())
		}
	}
	b.queueByName = map[string]awssqs.Queue{}
	for _, q := range queue.Queues {
		dlq := awssqs.NewQueue(b.stack, jsii.String(pascal(q.DLQName())), &awssqs.QueueProps{
			RetentionPeriod:   awscdk.Duration_Days(jsii.Number(14)),
			Encryption:        awssqs.QueueEncryption_SQS_MANAGED,
			EnforceSSL:        jsii.Bool(true),
			VisibilityTimeout: awscdk.Duration_Seconds(jsii.Number(visibility[q.DLQName()])),
		})
		b.queueByName[q.DLQName()] = dlq
		b.queueByName[q.Name] = awssqs.NewQueue(b.stack, jsii.String(pascal(q.Name)+"Queue"), &awssqs.QueueProps{
			VisibilityTimeout:      awscdk.Duration_Seconds(jsii.Number(visibility[q.Name])),
			ReceiveMessageWaitTime: awscdk.Duration_Seconds(jsii.Number(20)),
			Encryption:             awssqs.QueueEncryption_SQS_MANAGED,
			EnforceSSL:             jsii.Bool(true),
			DeadLetterQueue:        &awssqs.DeadLetterQueue{Queue: dlq, MaxReceiveCount: jsii.Number(queue.MaxReceiveCount)},
		})
	}
	b.alarm("DeliveryBacklogAge", b.queueByName[queue.Delivery].MetricApproximateAgeOfOldestMessage(nil), 900,
		"The oldest delivery job waits more than 15 minutes: deliveries are falling behind or a peer is down.")
}

// operatorAlarms fire on operator events (shared/operations), which the
// functions count as EMF metrics (MetricOperatorEvents): one alarm for
// every dead-lettered job (dlq-recorder drains the DLQs within seconds, so
// their depth rarely shows one) and one for every suspended peer.
func (b *builder) operatorAlarms() {
	for _, a := range []struct{ id, event, desc string }{
		{"DeadLettered", federation.OpDeliveryExhausted,
			"A job reached a dead-letter queue: a message failed for good (its delivery is FAILED) or a replay or catch-up did not finish. GET /events/operations names it; see README, Alarms."},
		{"PeerSuspended", federation.OpConnectionSuspended,
			"A peer was suspended: it answered 410 Gone or failed for days. Resume it with POST /connections/{id}/resume once it is back; see README, Alarms."},
	} {
		metric := awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String(metrics.Namespace), MetricName: jsii.String(MetricOperatorEvents.Name),
			DimensionsMap: &map[string]*string{DimInstance: jsii.String(b.props.InstanceName), DimType: jsii.String(a.event)},
			Statistic:     jsii.String("Sum"), Period: awscdk.Duration_Minutes(jsii.Number(1)),
		})
		b.alarm(a.id, metric, 0, a.desc)
	}
}

// queueNamed is the queue (or DLQ) named name; a name the stack lacks is a bug in
// a route row, caught at synth.
func (b *builder) queueNamed(name string) awssqs.Queue {
	q, ok := b.queueByName[name]
	if !ok {
		panic("infra: unknown queue " + name)
	}
	return q
}

// tableNamed is the table named name, like queueNamed.
func (b *builder) tableNamed(name string) awsdynamodb.Table {
	t, ok := b.tableByName[name]
	if !ok {
		panic("infra: unknown table " + name)
	}
	return t
}

// secret holds the orchestrator API key the dispatcher sends. It goes with
// the stack even under deletion protection: the orchestrator keeps its copy,
// and a new stack makes a new secret anyway.
func (b *builder) secret() {
	b.orchestratorSecret = awssecretsmanager.NewSecret(b.stack, jsii.String("OrchestratorApiKey"), &awssecretsmanager.SecretProps{
		Description:          jsii.String("API key fedgate " + b.props.InstanceName + "'s dispatcher sends to the orchestrator (X-API-Key)"),
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{PasswordLength: jsii.Number(48), ExcludePunctuation: jsii.Bool(true)},
		RemovalPolicy:        awscdk.RemovalPolicy_DESTROY,
	})
	cdknag.NagSuppressions_AddResourceSuppressions(b.orchestratorSecret, &[]*cdknag.NagPackSuppression{{
		Id:     jsii.String("AwsSolutions-SMG4"),
		Reason: jsii.String("The key is shared with an external orchestrator and rotated by the operator on both sides (README: Deploy, rotating the orchestrator secret); automatic rotation would break it."),
	}}, jsii.Bool(true))
}

// environment is shared/config's input, the same for every function: the
// settings with an env (settings.go), INSTANCE_URL, and the names of the
// stack's resources. Names and ARNs are not secrets, and what a function may
// use is decided by its role, not by what it is told.
func (b *builder) environment() {
	b.env = map[string]*string{
		"INSTANCE_URL":            b.instanceURL(),
		"KMS_KEY_ID":              b.key.KeyArn(),
		"ORCHESTRATOR_SECRET_ARN": b.orchestratorSecret.SecretArn(),
	}
	for name, v := range b.props.FunctionEnv {
		b.env[name] = jsii.String(v)
	}
	for name, t := range b.tableByName {
		b.env[store.EnvVar(name)] = t.TableName()
	}
	for name, q := range b.queueByName {
		b.env[queue.URLEnvVar(name)] = q.QueueUrl()
	}
}
