package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2authorizers"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/fedgate/fedgate/shared/queue"
	"github.com/fedgate/fedgate/shared/routes"
	"github.com/fedgate/fedgate/shared/store"
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
	stack := awscdk.NewStack(scope, jsii.String(id), &p.StackProps)
	removal := awscdk.RemovalPolicy_DESTROY
	if p.DeletionProtection {
		removal = awscdk.RemovalPolicy_RETAIN
	}

	key := awskms.NewKey(stack, jsii.String("SigningKeySealer"), &awskms.KeyProps{
		Description:       jsii.String("Seals fedgate's private signing keys (envelope encryption)"),
		EnableKeyRotation: jsii.Bool(true),
		RemovalPolicy:     removal,
	})

	tables := map[string]awsdynamodb.Table{}
	for _, t := range store.Tables {
		props := &awsdynamodb.TableProps{
			PartitionKey:                     &awsdynamodb.Attribute{Name: jsii.String(t.PartitionKey), Type: awsdynamodb.AttributeType_STRING},
			BillingMode:                      awsdynamodb.BillingMode_PAY_PER_REQUEST,
			PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{PointInTimeRecoveryEnabled: jsii.Bool(true)},
			DeletionProtection:               jsii.Bool(p.DeletionProtection),
			RemovalPolicy:                    removal,
			Encryption:                       awsdynamodb.TableEncryption_AWS_MANAGED,
		}
		if t.SortKey != "" {
			props.SortKey = &awsdynamodb.Attribute{Name: jsii.String(t.SortKey), Type: awsdynamodb.AttributeType_STRING}
		}
		if t.TTLAttribute != "" {
			props.TimeToLiveAttribute = jsii.String(t.TTLAttribute)
		}
		table := awsdynamodb.NewTable(stack, jsii.String(pascal(t.Name)+"Table"), props)
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
		tables[t.Name] = table
	}

	// Visibility timeout: at least 6× the longest timeout of the queue's consumers.
	visibility := map[string]float64{}
	for _, r := range routes.All {
		for _, q := range r.Queues {
			visibility[q] = max(visibility[q], 6*r.FunctionTimeout().Seconds())
		}
	}
	queues := map[string]awssqs.Queue{}
	for _, q := range queue.Queues {
		dlq := awssqs.NewQueue(stack, jsii.String(pascal(q.DLQName())), &awssqs.QueueProps{
			RetentionPeriod:   awscdk.Duration_Days(jsii.Number(14)),
			Encryption:        awssqs.QueueEncryption_SQS_MANAGED,
			EnforceSSL:        jsii.Bool(true),
			VisibilityTimeout: awscdk.Duration_Seconds(jsii.Number(visibility[q.DLQName()])),
		})
		queues[q.DLQName()] = dlq
		queues[q.Name] = awssqs.NewQueue(stack, jsii.String(pascal(q.Name)+"Queue"), &awssqs.QueueProps{
			VisibilityTimeout:      awscdk.Duration_Seconds(jsii.Number(visibility[q.Name])),
			ReceiveMessageWaitTime: awscdk.Duration_Seconds(jsii.Number(20)),
			Encryption:             awssqs.QueueEncryption_SQS_MANAGED,
			EnforceSSL:             jsii.Bool(true),
			DeadLetterQueue:        &awssqs.DeadLetterQueue{Queue: dlq, MaxReceiveCount: jsii.Number(queue.MaxReceiveCount)},
		})
	}

	orchestratorSecret := awssecretsmanager.NewSecret(stack, jsii.String("OrchestratorApiKey"), &awssecretsmanager.SecretProps{
		Description:          jsii.String("API key fedgate's dispatcher sends to the orchestrator (X-API-Key)"),
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{PasswordLength: jsii.Number(48), ExcludePunctuation: jsii.Bool(true)},
		RemovalPolicy:        removal,
	})
	cdknag.NagSuppressions_AddResourceSuppressions(orchestratorSecret, &[]*cdknag.NagPackSuppression{{
		Id:     jsii.String("AwsSolutions-SMG4"),
		Reason: jsii.String("The key is shared with an external orchestrator and rotated by the operator on both sides (README: Deploy, rotating the orchestrator secret); automatic rotation would break it."),
	}}, jsii.Bool(true))

	env := map[string]*string{
		"INSTANCE_NAME":           jsii.String(p.InstanceName),
		"INSTANCE_URL":            jsii.String(p.InstanceURL),
		"SIGNING_ALG":             jsii.String(p.SigningAlg),
		"KMS_KEY_ID":              key.KeyArn(),
		"WORKSPACE_CLAIM":         jsii.String(p.WorkspaceClaim),
		"MESSAGE_RETENTION_DAYS":  jsii.String(fmt.Sprint(p.RetentionDays)),
		"ORCHESTRATOR_URL":        jsii.String(p.OrchestratorURL),
		"ORCHESTRATOR_SECRET_ARN": orchestratorSecret.SecretArn(),
		"COMMAND_TYPES":           jsii.String(p.CommandTypes),
	}
	for name, t := range tables {
		env[store.EnvVar(name)] = t.TableName()
	}
	for name, q := range queues {
		env[queue.URLEnvVar(name)] = q.QueueUrl()
	}

	var alarmAction awscloudwatch.IAlarmAction
	// The alarm topic has its own key: CloudWatch must be allowed to use it,
	// and nothing should be allowed to use the key that seals signing keys.
	topicKey := awskms.NewKey(stack, jsii.String("AlarmTopicKey"), &awskms.KeyProps{
		Description: jsii.String("Encrypts fedgate's alarm topic"), EnableKeyRotation: jsii.Bool(true),
	})
	topicKey.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey*"),
		Resources:  jsii.Strings("*"),
	}), nil)
	topic := awssns.NewTopic(stack, jsii.String("Alarms"), &awssns.TopicProps{
		DisplayName: jsii.String("fedgate " + p.InstanceName + " alarms"),
		MasterKey:   topicKey,
		EnforceSSL:  jsii.Bool(true),
	})
	if p.AlarmEmail != "" {
		topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(p.AlarmEmail), nil))
	}
	alarmAction = awscloudwatchactions.NewSnsAction(topic)
	alarm := func(id string, metric awscloudwatch.IMetric, threshold float64, description string) {
		a := awscloudwatch.NewAlarm(stack, jsii.String(id), &awscloudwatch.AlarmProps{
			Metric: metric, Threshold: jsii.Number(threshold), EvaluationPeriods: jsii.Number(1),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
			AlarmDescription:   jsii.String(description),
		})
		a.AddAlarmAction(alarmAction)
	}
	for _, q := range queue.Queues {
		alarm(pascal(q.DLQName())+"Depth", queues[q.DLQName()].MetricApproximateNumberOfMessagesVisible(nil), 0,
			"Jobs reached the "+q.DLQName()+": messages failed for good. See README, Alarms.")
	}
	alarm("DeliveryBacklogAge", queues[queue.Delivery].MetricApproximateAgeOfOldestMessage(nil), 900,
		"The oldest delivery job waits more than 15 minutes: deliveries are falling behind or a peer is down.")

	accessLogs := awslogs.NewLogGroup(stack, jsii.String("ApiAccessLogs"), &awslogs.LogGroupProps{
		Retention: awslogs.RetentionDays_ONE_MONTH, RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	api := awsapigatewayv2.NewHttpApi(stack, jsii.String("Api"), &awsapigatewayv2.HttpApiProps{
		ApiName:     jsii.String("fedgate-" + p.InstanceName),
		Description: jsii.String("fedgate federation gateway " + p.InstanceName),
	})
	jwt := awsapigatewayv2authorizers.NewHttpJwtAuthorizer(jsii.String("Jwt"), jsii.String(p.JWTIssuer), &awsapigatewayv2authorizers.HttpJwtAuthorizerProps{
		JwtAudience: jsii.Strings(p.JWTAudience...),
	})

	stageRoutes := map[string]any{}
	for _, r := range routes.All {
		a, ok := accessByFunction[r.Name]
		if !ok {
			panic("infra: no access entry for function " + r.Name)
		}
		logGroup := awslogs.NewLogGroup(stack, jsii.String(pascal(r.Name)+"Logs"), &awslogs.LogGroupProps{
			Retention: awslogs.RetentionDays_ONE_MONTH, RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
		})
		role := awsiam.NewRole(stack, jsii.String(pascal(r.Name)+"Role"), &awsiam.RoleProps{
			AssumedBy: awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		})
		// Logs only to its own group: no managed policy with logs:* on *.
		role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:   jsii.Strings("logs:CreateLogStream", "logs:PutLogEvents"),
			Resources: &[]*string{logGroup.LogGroupArn()},
		}))
		fn := awslambda.NewFunction(stack, jsii.String(pascal(r.Name)), &awslambda.FunctionProps{
			FunctionName:  jsii.String("fedgate-" + p.InstanceName + "-" + r.Name),
			Runtime:       awslambda.Runtime_PROVIDED_AL2023(),
			Architecture:  awslambda.Architecture_ARM_64(),
			Handler:       jsii.String("bootstrap"),
			Code:          awslambda.Code_FromAsset(jsii.String(filepath.Join(p.CodeDir, r.Name)), nil),
			MemorySize:    jsii.Number(memoryMB),
			Timeout:       awscdk.Duration_Seconds(jsii.Number(r.FunctionTimeout().Seconds())),
			Environment:   &env,
			Role:          role,
			LogGroup:      logGroup,
			LoggingFormat: awslambda.LoggingFormat_JSON,
		})
		grant(fn, a, tables, queues, key, orchestratorSecret)
		alarm(pascal(r.Name)+"Errors", fn.MetricErrors(nil), 0, "Function "+r.Name+" failed (errors, timeouts or crashes).")

		switch {
		case r.IsHTTP():
			opts := &awsapigatewayv2.AddRoutesOptions{
				Path:        jsii.String(r.FullPath()),
				Methods:     &[]awsapigatewayv2.HttpMethod{awsapigatewayv2.HttpMethod(r.Method)},
				Integration: awsapigatewayv2integrations.NewHttpLambdaIntegration(jsii.String(pascal(r.Name)+"Integration"), fn, nil),
			}
			if r.NeedsToken() {
				opts.Authorizer = jwt
			}
			for _, route := range *api.AddRoutes(opts) {
				if !r.NeedsToken() {
					cdknag.NagSuppressions_AddResourceSuppressions(route, &[]*cdknag.NagPackSuppression{{
						Id:     jsii.String("AwsSolutions-APIG4"),
						Reason: jsii.String("By protocol this route carries no token: " + authReason(r.Auth)),
					}}, jsii.Bool(true))
				}
			}
			if r.Auth == routes.Signed {
				stageRoutes[r.RouteKey()] = map[string]any{
					"ThrottlingRateLimit": p.IncomingRateLimit, "ThrottlingBurstLimit": p.IncomingBurstLimit,
				}
			}
		case r.IsQueue():
			for _, q := range r.Queues {
				fn.AddEventSource(awslambdaeventsources.NewSqsEventSource(queues[q], &awslambdaeventsources.SqsEventSourceProps{
					BatchSize: jsii.Number(10), ReportBatchItemFailures: jsii.Bool(true),
				}))
			}
		case r.IsScheduled():
			awsevents.NewRule(stack, jsii.String(pascal(r.Name)+"Schedule"), &awsevents.RuleProps{
				Schedule: awsevents.Schedule_Expression(jsii.String(r.Schedule)),
				Targets:  &[]awsevents.IRuleTarget{awseventstargets.NewLambdaFunction(fn, nil)},
			})
		}
	}

	stage := api.DefaultStage().Node().DefaultChild().(awsapigatewayv2.CfnStage)
	stage.SetAccessLogSettings(&awsapigatewayv2.CfnStage_AccessLogSettingsProperty{
		DestinationArn: accessLogs.LogGroupArn(),
		Format: jsii.String(`{"requestId":"$context.requestId","ip":"$context.identity.sourceIp","time":"$context.requestTime",` +
			`"method":"$context.httpMethod","route":"$context.routeKey","status":"$context.status","latencyMs":"$context.responseLatency",` +
			`"integrationError":"$context.integrationErrorMessage","authorizerError":"$context.authorizer.error"}`),
	})
	stage.SetDefaultRouteSettings(&awsapigatewayv2.CfnStage_RouteSettingsProperty{
		ThrottlingRateLimit: jsii.Number(p.RateLimit), ThrottlingBurstLimit: jsii.Number(p.BurstLimit),
	})
	stage.SetRouteSettings(stageRoutes)

	awscdk.NewCfnOutput(stack, jsii.String("ApiUrl"), &awscdk.CfnOutputProps{
		Value:       api.ApiEndpoint(),
		Description: jsii.String("Base URL of the HTTP API; put INSTANCE_URL's domain in front of it"),
	})
	awscdk.NewCfnOutput(stack, jsii.String("OrchestratorSecretArn"), &awscdk.CfnOutputProps{Value: orchestratorSecret.SecretArn()})
	awscdk.NewCfnOutput(stack, jsii.String("AlarmTopicArn"), &awscdk.CfnOutputProps{Value: topic.TopicArn()})
	return stack
}

// grant gives a function exactly its access: table actions on its tables and
// their indexes, SendMessage on its queues, the KMS key and the secret if it
// needs them. Explicit statements, no managed policies.
func grant(fn awslambda.Function, a access, tables map[string]awsdynamodb.Table, queues map[string]awssqs.Queue, key awskms.Key, secret awssecretsmanager.Secret) {
	write := map[string]bool{}
	for _, t := range a.write {
		write[t] = true
	}
	names := append(append([]string{}, a.read...), a.write...)
	sort.Strings(names)
	names = slices.Compact(names)
	for _, name := range names {
		t, ok := tables[name]
		if !ok {
			panic("infra: unknown table " + name)
		}
		actions := []string{"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:ConditionCheckItem", "dynamodb:DescribeTable"}
		if write[name] {
			actions = append(actions, "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem")
		}
		fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:   jsii.Strings(actions...),
			Resources: &[]*string{t.TableArn(), jsii.String(*t.TableArn() + "/index/*")},
		}))
		cdknag.NagSuppressions_AddResourceSuppressions(fn.Role(), &[]*cdknag.NagPackSuppression{{
			Id:        jsii.String("AwsSolutions-IAM5"),
			Reason:    jsii.String("Queries on the table's own global secondary indexes (GSI ARNs of a table this function uses)."),
			AppliesTo: &[]interface{}{jsii.String("Resource::<" + *awscdk.Stack_Of(t).GetLogicalId(t.Node().DefaultChild().(awscdk.CfnElement)) + ".Arn>/index/*")},
		}}, jsii.Bool(true))
	}
	for _, q := range a.send {
		queues[q].GrantSendMessages(fn)
	}
	if a.kms {
		fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:   jsii.Strings("kms:GenerateDataKey", "kms:Decrypt"),
			Resources: &[]*string{key.KeyArn()},
		}))
	}
	if a.secret {
		fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:   jsii.Strings("secretsmanager:GetSecretValue"),
			Resources: &[]*string{secret.SecretArn()},
		}))
	}
}

func authReason(a routes.Auth) string {
	if a == routes.Signed {
		return "the signed envelope authenticates the peer (PROTOCOL.md §2–3)."
	}
	return "GET /instance is public by design: peers fetch the identity and keys (PROTOCOL.md §5)."
}

// pascal turns "connections-accept" into "ConnectionsAccept" for construct ids.
func pascal(s string) string {
	parts := strings.FieldsFunc(s, func(r rune) bool { return r == '-' || r == '_' })
	for i, p := range parts {
		parts[i] = strings.ToUpper(p[:1]) + p[1:]
	}
	return strings.Join(parts, "")
}
