package main

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
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

// Props configure one fedgate instance's stack; loadSettings fills them
// from the fedgate:* settings.
type Props struct {
	awscdk.StackProps
	InstanceName string
	// The custom domain (DomainName) with either an existing certificate
	// (CertificateARN) or the Route 53 zone to make one in (HostedZoneID,
	// HostedZoneName). InstanceURL is only used without a domain.
	DomainName, CertificateARN   string
	HostedZoneID, HostedZoneName string
	InstanceURL                  string
	JWTIssuer                    string
	JWTAudience                  []string
	LogRetentionDays             int
	AlarmEmail                   string
	// DeletionProtection keeps tables (and the KMS key) when the stack is deleted.
	DeletionProtection bool
	// ReserveConcurrency gives the routes that wait (routes.Route.Concurrency)
	// reserved concurrency; off for accounts whose quota cannot spare it.
	ReserveConcurrency bool
	// CodeDir holds build/<function>/bootstrap (make build).
	CodeDir string
	// Throttling of the stage, and the tighter one of /incoming/*.
	RateLimit, BurstLimit                 float64
	IncomingRateLimit, IncomingBurstLimit float64
	// FunctionEnv are the settings every function gets as they are, by
	// environment variable (settings with an env).
	FunctionEnv map[string]string
}

const memoryMB = 256

// NewFedgateStack builds the whole instance from shared/routes, shared/store
// and shared/queue: the same definitions the local runner uses.
func NewFedgateStack(scope constructs.Construct, id string, p Props) awscdk.Stack {
	b := &builder{
		stack: awscdk.NewStack(scope, jsii.String(id), &p.StackProps), props: p, removal: awscdk.RemovalPolicy_DESTROY,
		logGroups: map[string]awslogs.LogGroup{}, errorMetrics: map[string][]namedMetric{},
	}
	if p.DeletionProtection {
		b.removal = awscdk.RemovalPolicy_RETAIN
	}
	// The order matters only where a part refers to an earlier one: queues
	// and functions raise alarms, the API needs the domain, functions name
	// the API's address, every table, queue, key and the secret in their
	// environment and grants, the stage's throttling and the error alarms
	// need every function, and the dashboard every queue, function and alarm.
	b.sealingKey()
	b.alarmTopic()
	b.tables()
	b.queues()
	b.operatorAlarms()
	b.secret()
	b.domain()
	b.api()
	b.environment()
	for _, r := range routes.All {
		fn := b.function(r)
		b.trigger(r, fn)
	}
	b.errorAlarms()
	b.dashboard()
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
	alarms             []awscloudwatch.Alarm // every alarm, for the dashboard
	tableByName        map[string]awsdynamodb.Table
	queueByName        map[string]awssqs.Queue // work queues and their DLQs
	orchestratorSecret awssecretsmanager.Secret
	domainName         awsapigatewayv2.DomainName // nil without fedgate:domainName
	env                map[string]*string         // the same for every function
	httpAPI            awsapigatewayv2.HttpApi
	jwt                awsapigatewayv2.IHttpRouteAuthorizer
	accessLogs         awslogs.LogGroup
	// logGroups and errorMetrics are by capability (see capability), filled
	// as functions are added.
	logGroups    map[string]awslogs.LogGroup
	errorMetrics map[string][]namedMetric
	// incomingThrottling is the stage's tighter throttling of /incoming/*
	// by route key, collected while routes are added.
	incomingThrottling map[string]any
}

// namedMetric is a function's metric with the function's name.
type namedMetric struct {
	name   string
	metric awscloudwatch.IMetric
}

// physicalName is the name of a resource that needs a fixed one (functions,
// log groups, alarms): it carries the instance name, so instances in one
// account and region never collide.
func (b *builder) physicalName(parts ...string) string {
	return strings.Join(append([]string{"fedgate", b.props.InstanceName}, parts...), "-")
}

// pascal turns "connections-accept" into "ConnectionsAccept" for construct ids.
func pascal(s string) string {
	parts := strings.FieldsFunc(s, func(r rune) bool { return r == '-' || r == '_' })
	for i, p := range parts {
		parts[i] = strings.ToUpper(p[:1]) + p[1:]
	}
	return strings.Join(parts, "")
}
