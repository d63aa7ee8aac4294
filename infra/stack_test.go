package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/fedgate/fedgate/shared/queue"
	"github.com/fedgate/fedgate/shared/routes"
	"github.com/fedgate/fedgate/shared/store"
)

// The stack is synthesized once per test binary (synthesis takes seconds).
var (
	synthStack awscdk.Stack
	template   map[string]any
	resources  map[string]map[string]any
)

func TestMain(m *testing.M) {
	os.Setenv("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
	code, err := func() (int, error) {
		defer jsii.Close()
		stack, err := synthesize()
		if err != nil {
			return 1, err
		}
		synthStack = stack
		raw, _ := json.Marshal(assertions.Template_FromStack(stack, nil).ToJSON())
		if err := json.Unmarshal(raw, &template); err != nil {
			return 1, err
		}
		resources = map[string]map[string]any{}
		for id, r := range template["Resources"].(map[string]any) {
			resources[id] = r.(map[string]any)
		}
		return m.Run(), nil
	}()
	if err != nil {
		fmt.Fprintln(os.Stderr, "synthesize:", err)
	}
	os.Exit(code)
}

// synthesize builds the stack with cdk.json's context and placeholder
// function code, without CloudFormation validation (make synth keeps it on).
func synthesize() (awscdk.Stack, error) {
	data, err := os.ReadFile("../cdk.json")
	if err != nil {
		return nil, err
	}
	var cdkJSON struct{ Context map[string]any }
	if err := json.Unmarshal(data, &cdkJSON); err != nil {
		return nil, err
	}
	codeDir, err := os.MkdirTemp("", "fedgate-code")
	if err != nil {
		return nil, err
	}
	for _, r := range routes.All {
		_ = os.MkdirAll(filepath.Join(codeDir, r.Name), 0o755)
		_ = os.WriteFile(filepath.Join(codeDir, r.Name, "bootstrap"), []byte("placeholder"), 0o755)
	}
	cdkJSON.Context["fedgate:codeDir"] = codeDir
	ctx := map[string]any{"aws:cdk:enable-path-metadata": true}
	for k, v := range cdkJSON.Context {
		ctx[k] = v
	}
	app := awscdk.NewApp(&awscdk.AppProps{Context: &ctx, BuiltinCloudFormationValidation: jsii.Bool(false)})
	p, err := propsFromContext(app)
	if err != nil {
		return nil, err
	}
	stack := NewFedgateStack(app, stackID(p.InstanceName), p)
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	return stack, nil
}

func ofType(typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range resources {
		if r["Type"] == typ {
			out[id] = r
		}
	}
	return out
}

func props(r map[string]any) map[string]any { return r["Properties"].(map[string]any) }

// jsonText renders a value so tests can look for references in it.
func jsonText(v any) string { b, _ := json.Marshal(v); return string(b) }

// logicalIDOf finds the resource whose construct path ends in /<id>/Resource.
func logicalIDOf(t *testing.T, typ, namePart string) string {
	t.Helper()
	for id, r := range ofType(typ) {
		if md, ok := r["Metadata"].(map[string]any); ok {
			if path, _ := md["aws:cdk:path"].(string); strings.Contains(path, "/"+namePart+"/") {
				return id
			}
		}
	}
	t.Fatalf("no %s for %s", typ, namePart)
	return ""
}

func functionIDs(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for id, r := range ofType("AWS::Lambda::Function") {
		name := props(r)["FunctionName"].(string)
		out[strings.TrimPrefix(name, "fedgate-fedgate-")] = id
	}
	return out
}

func TestOneFunctionPerRoute(t *testing.T) {
	fns := functionIDs(t)
	if len(fns) != len(routes.All) {
		t.Fatalf("%d functions, %d routes", len(fns), len(routes.All))
	}
	for _, r := range routes.All {
		id, ok := fns[r.Name]
		if !ok {
			t.Errorf("route %s has no function", r.Name)
			continue
		}
		p := props(resources[id])
		if p["Runtime"] != "provided.al2023" || jsonText(p["Architectures"]) != `["arm64"]` || p["Handler"] != "bootstrap" {
			t.Errorf("%s: runtime %v arch %v handler %v", r.Name, p["Runtime"], p["Architectures"], p["Handler"])
		}
		if int(p["Timeout"].(float64)) != int(r.FunctionTimeout().Seconds()) {
			t.Errorf("%s: timeout %v", r.Name, p["Timeout"])
		}
		if _, ok := accessByFunction[r.Name]; !ok {
			t.Errorf("%s has no access entry", r.Name)
		}
	}
}

func TestHTTPRoutesAndAuthorizers(t *testing.T) {
	fns := functionIDs(t)
	byKey := map[string]map[string]any{}
	for _, r := range ofType("AWS::ApiGatewayV2::Route") {
		byKey[props(r)["RouteKey"].(string)] = props(r)
	}
	integrations := ofType("AWS::ApiGatewayV2::Integration")
	for _, r := range routes.All {
		if !r.IsHTTP() {
			continue
		}
		route, ok := byKey[r.RouteKey()]
		if !ok {
			t.Errorf("no API route %s", r.RouteKey())
			continue
		}
		wantAuth := "NONE"
		if r.NeedsToken() {
			wantAuth = "JWT"
		}
		if route["AuthorizationType"] != wantAuth {
			t.Errorf("%s: authorization %v, want %s", r.RouteKey(), route["AuthorizationType"], wantAuth)
		}
		target := jsonText(route["Target"])
		found := false
		for id, in := range integrations {
			if strings.Contains(target, id) && strings.Contains(jsonText(props(in)["IntegrationUri"]), fns[r.Name]) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s is not wired to function %s", r.RouteKey(), r.Name)
		}
	}
	if len(byKey) != countHTTP() {
		t.Errorf("%d API routes, %d HTTP routes in the table", len(byKey), countHTTP())
	}
	stage := props(resources[logicalIDOf(t, "AWS::ApiGatewayV2::Stage", "DefaultStage")])
	if stage["AccessLogSettings"] == nil || stage["DefaultRouteSettings"] == nil {
		t.Errorf("stage without access logs or throttling: %v", stage)
	}
	rs := jsonText(stage["RouteSettings"])
	for _, r := range routes.All {
		if r.Auth == routes.Signed && !strings.Contains(rs, r.RouteKey()) {
			t.Errorf("no tighter throttling on %s", r.RouteKey())
		}
	}
}

func countHTTP() int {
	n := 0
	for _, r := range routes.All {
		if r.IsHTTP() {
			n++
		}
	}
	return n
}

func TestTables(t *testing.T) {
	tables := ofType("AWS::DynamoDB::Table")
	if len(tables) != len(store.Tables) {
		t.Fatalf("%d tables, want %d", len(tables), len(store.Tables))
	}
	for _, def := range store.Tables {
		p := props(resources[logicalIDOf(t, "AWS::DynamoDB::Table", pascalName(def.Name)+"Table")])
		keys := jsonText(p["KeySchema"])
		if !strings.Contains(keys, `"AttributeName":"`+def.PartitionKey+`","KeyType":"HASH"`) ||
			(def.SortKey != "" && !strings.Contains(keys, `"AttributeName":"`+def.SortKey+`","KeyType":"RANGE"`)) {
			t.Errorf("%s key schema %s", def.Name, keys)
		}
		if p["BillingMode"] != "PAY_PER_REQUEST" || !strings.Contains(jsonText(p["PointInTimeRecoverySpecification"]), "true") {
			t.Errorf("%s: billing %v, PITR %v", def.Name, p["BillingMode"], p["PointInTimeRecoverySpecification"])
		}
		if def.TTLAttribute != "" && !strings.Contains(jsonText(p["TimeToLiveSpecification"]), def.TTLAttribute) {
			t.Errorf("%s: TTL %v", def.Name, p["TimeToLiveSpecification"])
		}
		gsis := jsonText(p["GlobalSecondaryIndexes"])
		for _, ix := range def.Indexes {
			if !strings.Contains(gsis, `"IndexName":"`+ix.Name+`"`) {
				t.Errorf("%s: no index %s", def.Name, ix.Name)
			}
		}
	}
}

func TestQueuesHaveDLQsAndVisibility(t *testing.T) {
	for _, q := range queue.Queues {
		p := props(resources[logicalIDOf(t, "AWS::SQS::Queue", pascalName(q.Name)+"Queue")])
		dlq := logicalIDOf(t, "AWS::SQS::Queue", pascalName(q.DLQName()))
		redrive := jsonText(p["RedrivePolicy"])
		if !strings.Contains(redrive, dlq) || !strings.Contains(redrive, `"maxReceiveCount":5`) {
			t.Errorf("%s redrive %s", q.Name, redrive)
		}
		if p["SqsManagedSseEnabled"] != true {
			t.Errorf("%s without SSE", q.Name)
		}
		vis := p["VisibilityTimeout"].(float64)
		for _, r := range routes.All {
			if slices.Contains(r.Queues, q.Name) && vis < 6*r.FunctionTimeout().Seconds() {
				t.Errorf("%s visibility %vs < 6× %s's %s", q.Name, vis, r.Name, r.FunctionTimeout())
			}
		}
	}
	esms := ofType("AWS::Lambda::EventSourceMapping")
	want := 0
	for _, r := range routes.All {
		want += len(r.Queues)
	}
	if len(esms) != want {
		t.Fatalf("%d event source mappings, want %d", len(esms), want)
	}
	for id, e := range esms {
		if jsonText(props(e)["FunctionResponseTypes"]) != `["ReportBatchItemFailures"]` {
			t.Errorf("%s without ReportBatchItemFailures", id)
		}
	}
}

// A function's policy names a table only if its access entry grants it, and
// grants every table it lists.
func TestLeastPrivilege(t *testing.T) {
	fns := functionIDs(t)
	tableIDs := map[string]string{}
	for _, def := range store.Tables {
		tableIDs[def.Name] = logicalIDOf(t, "AWS::DynamoDB::Table", pascalName(def.Name)+"Table")
	}
	policies := ofType("AWS::IAM::Policy")
	for name, fnID := range fns {
		roleID := strings.TrimPrefix(jsonText(props(resources[fnID])["Role"]), `{"Fn::GetAtt":["`)
		roleID = roleID[:strings.Index(roleID, `"`)]
		var doc string
		for _, p := range policies {
			if strings.Contains(jsonText(props(p)["Roles"]), roleID) {
				doc += jsonText(props(p)["PolicyDocument"])
			}
		}
		a := accessByFunction[name]
		granted := append(append([]string{}, a.read...), a.write...)
		for table, id := range tableIDs {
			has := strings.Contains(doc, id)
			if has != slices.Contains(granted, table) {
				t.Errorf("%s: policy names table %s = %v, access says %v", name, table, has, !has)
			}
			if has && !slices.Contains(a.write, table) && strings.Contains(doc, "dynamodb:PutItem") && len(a.write) == 0 {
				t.Errorf("%s can write though it only reads", name)
			}
		}
		if strings.Contains(doc, `"Action":"*"`) || strings.Contains(doc, `"dynamodb:*"`) || strings.Contains(doc, `"Resource":"*"`) {
			t.Errorf("%s has a wildcard statement: %s", name, doc)
		}
		if strings.Contains(doc, "kms:Decrypt") != a.kms {
			t.Errorf("%s: KMS access %v, want %v", name, !a.kms, a.kms)
		}
	}
}

func TestAlarms(t *testing.T) {
	alarms := ofType("AWS::CloudWatch::Alarm")
	text := jsonText(alarms)
	for _, q := range queue.Queues {
		if !strings.Contains(text, logicalIDOf(t, "AWS::SQS::Queue", pascalName(q.DLQName()))) {
			t.Errorf("no alarm on %s", q.DLQName())
		}
	}
	if !strings.Contains(text, "ApproximateAgeOfOldestMessage") {
		t.Error("no alarm on the delivery queue's oldest message")
	}
	for name, id := range functionIDs(t) {
		if !strings.Contains(text, id) {
			t.Errorf("no error alarm on %s", name)
		}
	}
}

func TestNagClean(t *testing.T) {
	errs := assertions.Annotations_FromStack(synthStack).FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*")))
	for _, e := range *errs {
		t.Errorf("cdk-nag: %s %v", *e.Id, e.Entry.Data)
	}
	warns := assertions.Annotations_FromStack(synthStack).FindWarning(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*")))
	for _, w := range *warns {
		t.Errorf("cdk-nag warning: %s %v", *w.Id, w.Entry.Data)
	}
}

// The nag pack is really applied: a non-compliant queue is reported.
func TestNagCatchesAFinding(t *testing.T) {
	app := awscdk.NewApp(&awscdk.AppProps{BuiltinCloudFormationValidation: jsii.Bool(false)})
	stack := awscdk.NewStack(app, jsii.String("Probe"), nil)
	awssqs.NewQueue(stack, jsii.String("Plain"), &awssqs.QueueProps{Encryption: awssqs.QueueEncryption_UNENCRYPTED})
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(nil), nil)
	errs := assertions.Annotations_FromStack(stack).FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-SQS.*")))
	if len(*errs) == 0 {
		t.Fatal("cdk-nag reported nothing for an unencrypted queue without a DLQ")
	}
}

func pascalName(s string) string { return pascal(s) }
