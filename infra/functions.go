package main

import (
	"path/filepath"
	"slices"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/fedgate/fedgate/shared/routes"
)

// function creates r's Lambda with its own role, log group and error alarm.
// The role starts with nothing but its own logs; grant adds the rest.
func (b *builder) function(r routes.Route) awslambda.Function {
	logGroup := awslogs.NewLogGroup(b.stack, jsii.String(pascal(r.Name)+"Logs"), &awslogs.LogGroupProps{
		Retention: awslogs.RetentionDays_ONE_MONTH, RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	role := awsiam.NewRole(b.stack, jsii.String(pascal(r.Name)+"Role"), &awsiam.RoleProps{
		AssumedBy: awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
	})
	// Logs only to its own group: no managed policy with logs:* on *.
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("logs:CreateLogStream", "logs:PutLogEvents"),
		Resources: &[]*string{logGroup.LogGroupArn()},
	}))
	fn := awslambda.NewFunction(b.stack, jsii.String(pascal(r.Name)), &awslambda.FunctionProps{
		FunctionName:  jsii.String("fedgate-" + b.props.InstanceName + "-" + r.Name),
		Runtime:       awslambda.Runtime_PROVIDED_AL2023(),
		Architecture:  awslambda.Architecture_ARM_64(),
		Handler:       jsii.String("bootstrap"),
		Code:          awslambda.Code_FromAsset(jsii.String(filepath.Join(b.props.CodeDir, r.Name)), nil),
		MemorySize:    jsii.Number(memoryMB),
		Timeout:       awscdk.Duration_Seconds(jsii.Number(r.FunctionTimeout().Seconds())),
		Environment:   &b.env,
		Role:          role,
		LogGroup:      logGroup,
		LoggingFormat: awslambda.LoggingFormat_JSON,
	})
	b.alarm(pascal(r.Name)+"Errors", fn.MetricErrors(nil), 0, "Function "+r.Name+" failed (errors, timeouts or crashes).")
	return fn
}

// Table actions. A written table is read too: a row lists it in Write only.
var (
	readActions  = []string{"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:ConditionCheckItem", "dynamodb:DescribeTable"}
	writeActions = []string{"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}
)

// grant gives a function exactly its row's access: table actions on its
// tables and their indexes, SendMessage on its queues, the KMS key and the
// secret if it needs them. Explicit statements, no managed policies.
func (b *builder) grant(fn awslambda.Function, a routes.Access) {
	names := a.Tables()
	slices.Sort(names)
	for _, name := range names {
		t := b.tableNamed(name)
		actions := slices.Clone(readActions)
		if a.Writes(name) {
			actions = append(actions, writeActions...)
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
	for _, q := range a.Send {
		b.queueNamed(q).GrantSendMessages(fn)
	}
	if a.SigningKey != routes.NoKey {
		actions := []string{"kms:GenerateDataKey"}
		if a.SigningKey == routes.SignWithKey {
			actions = append(actions, "kms:Decrypt")
		}
		fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:   jsii.Strings(actions...),
			Resources: &[]*string{b.key.KeyArn()},
		}))
	}
	if a.Secret {
		fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:   jsii.Strings("secretsmanager:GetSecretValue"),
			Resources: &[]*string{b.orchestratorSecret.SecretArn()},
		}))
	}
}

// trigger connects fn to what invokes it: its HTTP route, its queues (with
// partial batch failures, so one bad job does not redo nine), or its schedule.
func (b *builder) trigger(r routes.Route, fn awslambda.Function) {
	switch {
	case r.IsHTTP():
		b.httpRoute(r, fn)
	case r.IsQueue():
		for _, q := range r.Queues {
			fn.AddEventSource(awslambdaeventsources.NewSqsEventSource(b.queueNamed(q), &awslambdaeventsources.SqsEventSourceProps{
				BatchSize: jsii.Number(10), ReportBatchItemFailures: jsii.Bool(true),
			}))
		}
	case r.IsScheduled():
		awsevents.NewRule(b.stack, jsii.String(pascal(r.Name)+"Schedule"), &awsevents.RuleProps{
			Schedule: awsevents.Schedule_Expression(jsii.String(r.Schedule)),
			Targets:  &[]awsevents.IRuleTarget{awseventstargets.NewLambdaFunction(fn, nil)},
		})
	}
}
