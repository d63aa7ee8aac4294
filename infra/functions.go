package main

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/fedgate/fedgate/shared/routes"
)

// function creates r's Lambda with its own role, whose one inline policy
// allows exactly r's row (grants), traced by X-Ray, and sends its logs to
// its capability's log group. Its errors join its capability's alarm
// (errorAlarms).
func (b *builder) function(r routes.Route) awslambda.Function {
	c := capability(r)
	logs := b.capabilityLogs(c)
	role := awsiam.NewRole(b.stack, jsii.String(pascal(r.Name)+"Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("fedgate " + b.props.InstanceName + " function " + r.Name + ": exactly its row in shared/routes"),
		InlinePolicies: &map[string]awsiam.PolicyDocument{
			"access": awsiam.NewPolicyDocument(&awsiam.PolicyDocumentProps{Statements: b.grants(r, logs)}),
		},
	})
	b.suppressIndexWildcards(role, r.Access)
	suppressXRayWildcard(role)
	fn := awslambda.NewFunction(b.stack, jsii.String(pascal(r.Name)), &awslambda.FunctionProps{
		FunctionName:  jsii.String(b.physicalName(r.Name)),
		Runtime:       awslambda.Runtime_PROVIDED_AL2023(),
		Architecture:  awslambda.Architecture_ARM_64(),
		Handler:       jsii.String("bootstrap"),
		Code:          awslambda.Code_FromAsset(jsii.String(filepath.Join(b.props.CodeDir, r.Name)), nil),
		MemorySize:    jsii.Number(memoryMB),
		Timeout:       awscdk.Duration_Seconds(jsii.Number(r.FunctionTimeout().Seconds())),
		Environment:   &b.env,
		Role:          role,
		LogGroup:      logs,
		LoggingFormat: awslambda.LoggingFormat_JSON,
		// A route that holds its function while it waits is bounded, so a
		// few slow callers cannot take the account's concurrency; a queue
		// consumer is bounded by its mapping instead (trigger).
		ReservedConcurrentExecutions: reserved(r, b.props.ReserveConcurrency),
	})
	// X-Ray active tracing, set on the function's template directly: the
	// Tracing prop would add an AWS::IAM::Policy per function for the two
	// X-Ray actions, which grants already puts inline in the role.
	fn.Node().DefaultChild().(awslambda.CfnFunction).SetTracingConfig(&awslambda.CfnFunction_TracingConfigProperty{Mode: jsii.String("Active")})
	b.errorMetrics[c] = append(b.errorMetrics[c], namedMetric{r.Name, fn.MetricErrors(nil)})
	return fn
}

// reserved is an HTTP route's reserved concurrency, nil for none.
func reserved(r routes.Route, reserve bool) *float64 {
	if !reserve || !r.IsHTTP() || r.Concurrency == 0 {
		return nil
	}
	return jsii.Number(float64(r.Concurrency))
}

// capability is the part of fedgate a function belongs to, for its log
// group and error alarm: the first segment of its path (the word after
// /incoming/ for peers' routes, in the plural PROTOCOL.md's sections use),
// and "workers" for queue consumers and scheduled functions. A route under
// a new first segment makes a new capability: one log group and one alarm.
func capability(r routes.Route) string {
	switch {
	case !r.IsHTTP():
		return "workers"
	case r.IsDefault():
		return "instance" // what answers for the instance as a whole
	}
	segs := strings.Split(strings.Trim(r.Path, "/"), "/")
	word := segs[0]
	if word == "incoming" && len(segs) > 1 {
		word = segs[1]
	}
	word = nonName.Split(strings.ToLower(word), 2)[0]
	if c, ok := capabilityOf[word]; ok {
		return c
	}
	if word == "" {
		return "root"
	}
	return word
}

var (
	nonName      = regexp.MustCompile(`[^a-z0-9-]`)
	capabilityOf = map[string]string{"connect": "connections", "disconnect": "connections", "query": "queries", "command": "commands", "event": "events"}
)

// capabilityLogs is the log group of capability c, made on first use.
//
// Functions share a log group per capability through Lambda's advanced
// logging controls (each function's log streams carry its name), which
// keeps one group per capability to read and costs one resource per
// capability, not per function (doc.go: resource budget).
func (b *builder) capabilityLogs(c string) awslogs.LogGroup {
	if g, ok := b.logGroups[c]; ok {
		return g
	}
	g := b.logGroup(pascal(c)+"Logs", b.logGroupName(c))
	b.logGroups[c] = g
	return g
}

// logGroupName is the name of capability c's log group.
func (b *builder) logGroupName(c string) string { return "/aws/lambda/" + b.physicalName(c) }

// logGroup makes a log group named name that keeps logs for
// fedgate:logRetentionDays and goes with the stack.
func (b *builder) logGroup(id, name string) awslogs.LogGroup {
	g := awslogs.NewLogGroup(b.stack, jsii.String(id), &awslogs.LogGroupProps{
		LogGroupName: jsii.String(name), RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	g.Node().DefaultChild().(awslogs.CfnLogGroup).SetRetentionInDays(jsii.Number(float64(b.props.LogRetentionDays)))
	return g
}

// errorAlarms raises the alarm topic when a function fails (errors,
// timeouts, crashes): one alarm per capability on the sum of its functions'
// Errors (a metric-math expression), split in tens where a capability has
// more, because an alarm's expression may use at most 10 metrics.
func (b *builder) errorAlarms() {
	caps := make([]string, 0, len(b.errorMetrics))
	for c := range b.errorMetrics {
		caps = append(caps, c)
	}
	slices.Sort(caps)
	for _, c := range caps {
		metrics := b.errorMetrics[c]
		for part, first := 1, 0; first < len(metrics); part, first = part+1, first+maxAlarmMetrics {
			group := metrics[first:min(first+maxAlarmMetrics, len(metrics))]
			using := map[string]awscloudwatch.IMetric{}
			var terms, names []string
			for i, m := range group {
				id := fmt.Sprintf("m%d", i)
				using[id] = m.metric
				terms = append(terms, "FILL("+id+", 0)")
				names = append(names, m.name)
			}
			id := pascal(c) + "Errors"
			if len(metrics) > maxAlarmMetrics {
				id += fmt.Sprint(part)
			}
			expr := awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
				Expression:   jsii.String("SUM([" + strings.Join(terms, ", ") + "])"),
				UsingMetrics: &using,
				Label:        jsii.String("Errors of " + c),
				Period:       awscdk.Duration_Minutes(jsii.Number(5)),
			})
			b.alarm(id, expr, 0, "A function of "+c+" failed (errors, timeouts or crashes): one of "+strings.Join(names, ", ")+
				". Its Errors metric names it; its logs are in "+b.logGroupName(c)+". See README, Alarms.")
		}
	}
}

// maxAlarmMetrics is CloudWatch's limit of metrics in one alarm's expression.
const maxAlarmMetrics = 10

// Table actions. A written table is read too: a row lists it in Write only.
var (
	readActions    = []string{"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:ConditionCheckItem", "dynamodb:DescribeTable"}
	writeActions   = []string{"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}
	sendActions    = []string{"sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"}
	consumeActions = []string{"sqs:ReceiveMessage", "sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"}
	logActions     = []string{"logs:CreateLogStream", "logs:PutLogEvents"}
	// xrayActions send a traced function's segments; X-Ray allows them
	// only on "*".
	xrayActions = []string{"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
)

// grants are exactly what r's row allows, as explicit statements (no
// managed policies): writing to its log group and its X-Ray traces, table
// actions on its tables and their indexes, SendMessage on its queues,
// consuming its trigger queues, the KMS key and the secret if it needs them.
func (b *builder) grants(r routes.Route, logs awslogs.LogGroup) *[]awsiam.PolicyStatement {
	a := r.Access
	st := func(actions []string, resources ...*string) awsiam.PolicyStatement {
		return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Actions: jsii.Strings(actions...), Resources: &resources})
	}
	out := []awsiam.PolicyStatement{st(logActions, logs.LogGroupArn()), st(xrayActions, jsii.String("*"))}
	names := a.Tables()
	slices.Sort(names)
	for _, name := range names {
		t := b.tableNamed(name)
		actions := slices.Clone(readActions)
		if a.Writes(name) {
			actions = append(actions, writeActions...)
		}
		out = append(out, st(actions, t.TableArn(), jsii.String(*t.TableArn()+"/index/*")))
	}
	for _, q := range a.Send {
		out = append(out, st(sendActions, b.queueNamed(q).QueueArn()))
	}
	for _, q := range r.Queues {
		out = append(out, st(consumeActions, b.queueNamed(q).QueueArn()))
	}
	if a.SigningKey != routes.NoKey {
		actions := []string{"kms:GenerateDataKey"}
		if a.SigningKey == routes.SignWithKey {
			actions = append(actions, "kms:Decrypt")
		}
		out = append(out, st(actions, b.key.KeyArn()))
	}
	if a.Secret {
		out = append(out, st([]string{"secretsmanager:GetSecretValue"}, b.orchestratorSecret.SecretArn()))
	}
	return &out
}

// suppressIndexWildcards explains cdk-nag's one finding on a role: the
// <table>/index/* resources of the tables it uses.
func (b *builder) suppressIndexWildcards(role awsiam.Role, a routes.Access) {
	for _, name := range a.Tables() {
		t := b.tableNamed(name)
		cdknag.NagSuppressions_AddResourceSuppressions(role, &[]*cdknag.NagPackSuppression{{
			Id:        jsii.String("AwsSolutions-IAM5"),
			Reason:    jsii.String("Queries on the table's own global secondary indexes (GSI ARNs of a table this function uses)."),
			AppliesTo: &[]interface{}{jsii.String("Resource::<" + *awscdk.Stack_Of(t).GetLogicalId(t.Node().DefaultChild().(awscdk.CfnElement)) + ".Arn>/index/*")},
		}}, jsii.Bool(true))
	}
}

// suppressXRayWildcard explains cdk-nag's finding on the one statement on
// "*" every role has: X-Ray's (grants).
func suppressXRayWildcard(role awsiam.Role) {
	cdknag.NagSuppressions_AddResourceSuppressions(role, &[]*cdknag.NagPackSuppression{{
		Id:        jsii.String("AwsSolutions-IAM5"),
		Reason:    jsii.String("X-Ray active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords allow no resource but *."),
		AppliesTo: &[]interface{}{jsii.String("Resource::*")},
	}}, jsii.Bool(true))
}

// trigger connects fn to what invokes it: its HTTP route, its queues (with
// partial batch failures, so one bad job does not redo nine; the role's
// inline policy already allows consuming them), or its schedule.
func (b *builder) trigger(r routes.Route, fn awslambda.Function) {
	switch {
	case r.IsHTTP():
		b.httpRoute(r, fn)
	case r.IsQueue():
		for _, q := range r.Queues {
			fn.AddEventSourceMapping(jsii.String(pascal(q)+"Trigger"), &awslambda.EventSourceMappingOptions{
				EventSourceArn: b.queueNamed(q).QueueArn(), BatchSize: jsii.Number(10), ReportBatchItemFailures: jsii.Bool(true),
				// SQS mappings take 2 to 1000.
				MaxConcurrency: jsii.Number(float64(min(max(r.Concurrency, 2), 1000))),
			})
		}
	case r.IsScheduled():
		awsevents.NewRule(b.stack, jsii.String(pascal(r.Name)+"Schedule"), &awsevents.RuleProps{
			Schedule: awsevents.Schedule_Expression(jsii.String(r.Schedule)),
			Targets:  &[]awsevents.IRuleTarget{awseventstargets.NewLambdaFunction(fn, nil)},
		})
	}
}
