package main

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/fedgate/fedgate/shared/routes"
)

// Props configure one fedgate instance's stack.
type Props struct {
	awscdk.StackProps
	InstanceName   string
	InstanceURL    string // public base URL (custom domain in front of the API)
	JWTIssuer      string
	JWTAudience    []string
	WorkspaceClaim string
	SigningAlg     string
	RetentionDays  int
	AlarmEmail     string
	// DeletionProtection keeps tables (and the KMS key) when the stack is deleted.
	DeletionProtection bool
	OrchestratorURL    string
	CommandTypes       string
	// CodeDir holds build/<function>/bootstrap (make build).
	CodeDir string
	// Throttling of the stage, and the tighter one of /incoming/*.
	RateLimit, BurstLimit                 float64
	IncomingRateLimit, IncomingBurstLimit float64
}

const memoryMB = 256

// NewFedgateStack builds the whole instance from shared/routes, shared/store
// and shared/queue: the same definitions the local runner uses.
func NewFedgateStack(scope constructs.Construct, id string, p Props) awscdk.Stack {
	b := &builder{stack: awscdk.NewStack(scope, jsii.String(id), &p.StackProps), props: p, removal: awscdk.RemovalPolicy_DESTROY}
	if p.DeletionProtection {
		b.removal = awscdk.RemovalPolicy_RETAIN
	}
	// The order matters only where a part refers to an earlier one: queues
	// and functions raise alarms, functions name every table, queue, key and
	// the secret in their environment and grants, and the stage's throttling
	// needs every route.
	b.sealingKey()
	b.alarmTopic()
	b.tables()
	b.queues()
	b.secret()
	b.environment()
	b.api()
	for _, r := range routes.All {
		fn := b.function(r)
		b.grant(fn, r.Access)
		b.trigger(r, fn)
	}
	b.stage()
	b.outputs()
	return b.stack
}

// builder carries what the parts of one stack share while NewFedgateStack
// puts them together: each method adds one part and keeps in b what later
// parts refer to.
type builder struct {
	stack   awscdk.Stack
	props   Props
	removal awscdk.RemovalPolicy // of the stateful resources: RETAIN under deletion protection

	key                awskms.Key // seals the signing keys
	topic              awssns.Topic
	tableByName        map[string]awsdynamodb.Table
	queueByName        map[string]awssqs.Queue // work queues and their DLQs
	orchestratorSecret awssecretsmanager.Secret
	env                map[string]*string // the same for every function
	httpAPI            awsapigatewayv2.HttpApi
	jwt                awsapigatewayv2.IHttpRouteAuthorizer
	accessLogs         awslogs.LogGroup
	// incomingThrottling is the stage's tighter throttling of /incoming/*
	// by route key, collected while routes are added.
	incomingThrottling map[string]any
}

func (b *builder) outputs() {
	awscdk.NewCfnOutput(b.stack, jsii.String("ApiUrl"), &awscdk.CfnOutputProps{
		Value:       b.httpAPI.ApiEndpoint(),
		Description: jsii.String("Base URL of the HTTP API; put INSTANCE_URL's domain in front of it"),
	})
	awscdk.NewCfnOutput(b.stack, jsii.String("OrchestratorSecretArn"), &awscdk.CfnOutputProps{Value: b.orchestratorSecret.SecretArn()})
	awscdk.NewCfnOutput(b.stack, jsii.String("AlarmTopicArn"), &awscdk.CfnOutputProps{Value: b.topic.TopicArn()})
}

// pascal turns "connections-accept" into "ConnectionsAccept" for construct ids.
func pascal(s string) string {
	parts := strings.FieldsFunc(s, func(r rune) bool { return r == '-' || r == '_' })
	for i, p := range parts {
		parts[i] = strings.ToUpper(p[:1]) + p[1:]
	}
	return strings.Join(parts, "")
}
