package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/metrics"
	"github.com/fedgate/fedgate/shared/operations"
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
		defer func() {
			if placeholderDir != "" {
				os.RemoveAll(placeholderDir)
			}
		}()
		stack, err := synthesize(nil)
		if err != nil {
			return 1, err
		}
		synthStack = stack
		template = templateOf(stack)
		resources = resourcesOf(template)
		return m.Run(), nil
	}()
	if err != nil {
		fmt.Fprintln(os.Stderr, "synthesize:", err)
	}
	os.Exit(code)
}

// synthesize builds the stack with cdk.json's context, overridden by
// overrides, and placeholder function code, without CloudFormation
// validation (make synth keeps it on).
func synthesize(overrides map[string]any) (awscdk.Stack, error) {
	app, err := testApp(overrides)
	if err != nil {
		return nil, err
	}
	return build(app)
}

// testApp is an app with cdk.json's context, overrides and placeholder code.
func testApp(overrides map[string]any) (awscdk.App, error) {
	ctx, err := testContext(overrides)
	if err != nil {
		return nil, err
	}
	return awscdk.NewApp(&awscdk.AppProps{Context: &ctx, BuiltinCloudFormationValidation: jsii.Bool(false)}), nil
}

// testContext is cdk.json's context with placeholder function code and
// overrides (a nil value removes a key).
func testContext(overrides map[string]any) (map[string]any, error) {
	data, err := os.ReadFile("../cdk.json")
	if err != nil {
		return nil, err
	}
	var cdkJSON struct{ Context map[string]any }
	if err := json.Unmarshal(data, &cdkJSON); err != nil {
		return nil, err
	}
	// The metadata the CDK CLI asks for, so the template is the one it deploys.
	ctx := map[string]any{"aws:cdk:enable-path-metadata": true, "aws:cdk:enable-asset-metadata": true, "aws:cdk:version-reporting": true,
		"fedgate:codeDir": placeholderCode()}
	for k, v := range cdkJSON.Context {
		if k != "fedgate:codeDir" {
			ctx[k] = v
		}
	}
	for k, v := range overrides {
		if v == nil {
			delete(ctx, k)
		} else {
			ctx[k] = v
		}
	}
	return ctx, nil
}

var placeholderDir string

// placeholderCode is a directory with a placeholder bootstrap per function.
func placeholderCode() string {
	if placeholderDir == "" {
		placeholderDir, _ = os.MkdirTemp("", "fedgate-code")
		for _, r := range routes.All {
			_ = os.MkdirAll(filepath.Join(placeholderDir, r.Name), 0o755)
			_ = os.WriteFile(filepath.Join(placeholderDir, r.Name, "bootstrap"), []byte("placeholder"), 0o755)
		}
	}
	return placeholderDir
}

// templateOf is the stack's template as JSON values.
func templateOf(stack awscdk.Stack) map[string]any {
	var out map[string]any
	raw, _ := json.Marshal(assertions.Template_FromStack(stack, nil).ToJSON())
	_ = json.Unmarshal(raw, &out)
	return out
}

// resourcesOf are a template's resources by logical id.
func resourcesOf(tmpl map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range tmpl["Resources"].(map[string]any) {
		out[id] = r.(map[string]any)
	}
	return out
}

func ofType(typ string) map[string]map[string]any { return ofTypeIn(resources, typ) }

func ofTypeIn(resources map[string]map[string]any, typ string) map[string]map[string]any {
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
		wantScopes := "null"
		if scopes := r.Scopes(); len(scopes) > 0 {
			wantScopes = `["` + strings.Join(scopes, `","`) + `"]`
		}
		if got := jsonText(route["AuthorizationScopes"]); got != wantScopes {
			t.Errorf("%s: authorization scopes %s, want %s", r.RouteKey(), got, wantScopes)
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

// statement is one statement of a role's policy, with the logical ids its
// resources refer to.
type statement struct {
	actions  []string
	refs     map[string]bool
	literals []string // literal strings in its resources, where wildcards would hide
}

func (s statement) hasAction(prefix string) bool {
	return slices.ContainsFunc(s.actions, func(a string) bool { return strings.HasPrefix(a, prefix) })
}

// roleStatements collects the statements of every policy attached to the
// function's role, and fails if the role has managed or inline policies.
func roleStatements(t *testing.T, fnID string) []statement {
	t.Helper()
	roleID := refOf(props(resources[fnID])["Role"])
	role := props(resources[roleID])
	if role["ManagedPolicyArns"] != nil || role["PermissionsBoundary"] != nil {
		t.Errorf("%s: role has managed policies: %s", fnID, jsonText(role))
	}
	// Its policies: inline in the role, and any AWS::IAM::Policy attached to it.
	var docs []map[string]any
	for _, p := range asList(role["Policies"]) {
		docs = append(docs, p.(map[string]any)["PolicyDocument"].(map[string]any))
	}
	for _, p := range ofType("AWS::IAM::Policy") {
		if strings.Contains(jsonText(props(p)["Roles"]), `"`+roleID+`"`) {
			docs = append(docs, props(p)["PolicyDocument"].(map[string]any))
		}
	}
	var out []statement
	for _, doc := range docs {
		for _, raw := range doc["Statement"].([]any) {
			st := raw.(map[string]any)
			if st["Effect"] != "Allow" || st["NotAction"] != nil || st["NotResource"] != nil || st["Condition"] != nil {
				t.Errorf("%s: unexpected statement %s", fnID, jsonText(st))
			}
			s := statement{refs: map[string]bool{}}
			switch a := st["Action"].(type) {
			case string:
				s.actions = []string{a}
			case []any:
				for _, x := range a {
					s.actions = append(s.actions, x.(string))
				}
			}
			walkRefs(st["Resource"], s.refs, &s.literals)
			out = append(out, s)
		}
	}
	return out
}

func asList(v any) []any { l, _ := v.([]any); return l }

// refOf is the logical id in a {"Ref": id} or {"Fn::GetAtt": [id, …]}.
func refOf(v any) string {
	refs := map[string]bool{}
	walkRefs(v, refs, new([]string))
	for id := range refs {
		return id
	}
	return ""
}

func walkRefs(v any, refs map[string]bool, literals *[]string) {
	switch x := v.(type) {
	case string:
		*literals = append(*literals, x)
	case []any:
		for _, e := range x {
			walkRefs(e, refs, literals)
		}
	case map[string]any:
		if id, ok := x["Ref"].(string); ok {
			refs[id] = true
			return
		}
		if ga, ok := x["Fn::GetAtt"].([]any); ok {
			refs[ga[0].(string)] = true
			return
		}
		for _, e := range x {
			walkRefs(e, refs, literals)
		}
	}
}

// stackIDs are the logical ids the least-privilege check compares grants with.
type stackIDs struct {
	tables, queues map[string]string // by table or queue (DLQ) name
	key, secret    string
}

func idsOf(t *testing.T) stackIDs {
	t.Helper()
	ids := stackIDs{tables: map[string]string{}, queues: map[string]string{}}
	for _, def := range store.Tables {
		ids.tables[def.Name] = logicalIDOf(t, "AWS::DynamoDB::Table", pascalName(def.Name)+"Table")
	}
	for _, q := range queue.Queues {
		ids.queues[q.Name] = logicalIDOf(t, "AWS::SQS::Queue", pascalName(q.Name)+"Queue")
		ids.queues[q.DLQName()] = logicalIDOf(t, "AWS::SQS::Queue", pascalName(q.DLQName()))
	}
	ids.key = logicalIDOf(t, "AWS::KMS::Key", "SigningKeySealer")
	ids.secret = logicalIDOf(t, "AWS::SecretsManager::Secret", "OrchestratorApiKey")
	return ids
}

var kmsActions = []string{"kms:GenerateDataKey", "kms:Decrypt"}

// privilegeErrors compares one function's statements with its route row:
// what the policy allows must be exactly what the row grants.
func privilegeErrors(r routes.Route, logGroup string, sts []statement, ids stackIDs) []string {
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, r.Name+": "+fmt.Sprintf(format, args...)) }
	known := slices.Concat(readActions, writeActions, sendActions, consumeActions, kmsActions, logActions, xrayActions,
		[]string{"secretsmanager:GetSecretValue"})
	tableActions := map[string][]string{} // by logical id
	var sendTo, consumeFrom, kmsOn, kmsDo, secretOn, logsTo []string
	traced := false
	for _, s := range sts {
		for _, a := range s.actions {
			if strings.Contains(a, "*") || !slices.Contains(known, a) {
				fail("action %q is a wildcard or not one fedgate grants", a)
			}
		}
		// X-Ray's two actions allow no resource but "*", and only they may have it.
		onlyXRay := !slices.ContainsFunc(s.actions, func(a string) bool { return !slices.Contains(xrayActions, a) })
		for _, l := range s.literals {
			if l == "*" && onlyXRay && len(s.refs) == 0 {
				continue
			}
			if l == "*" || (strings.Contains(l, "*") && (l != "/index/*" || !s.hasAction("dynamodb:"))) {
				fail("wildcard resource %q in %v", l, s.actions)
			}
		}
		if onlyXRay && len(s.refs) > 0 {
			fail("X-Ray actions on %v: they take only *", slices.Sorted(maps.Keys(s.refs)))
		}
		if onlyXRay && slices.Equal(s.literals, []string{"*"}) && len(s.refs) == 0 &&
			!slices.ContainsFunc(xrayActions, func(a string) bool { return !slices.Contains(s.actions, a) }) {
			traced = true
		}
		refs := slices.Sorted(maps.Keys(s.refs))
		for _, id := range refs {
			if s.hasAction("dynamodb:") {
				tableActions[id] = append(tableActions[id], s.actions...)
			}
			if slices.Contains(s.actions, "sqs:SendMessage") {
				sendTo = append(sendTo, id)
			}
			if slices.Contains(s.actions, "sqs:ReceiveMessage") {
				consumeFrom = append(consumeFrom, id)
			}
			if s.hasAction("kms:") {
				kmsOn = append(kmsOn, id)
				for _, a := range s.actions {
					if strings.HasPrefix(a, "kms:") {
						kmsDo = append(kmsDo, a)
					}
				}
			}
			if s.hasAction("secretsmanager:") {
				secretOn = append(secretOn, id)
			}
			if s.hasAction("logs:") {
				logsTo = append(logsTo, id)
			}
		}
	}
	granted := r.Access.Tables()
	for name, id := range ids.tables {
		actions, has := tableActions[id]
		delete(tableActions, id)
		if has != slices.Contains(granted, name) {
			verb := "does not name"
			if has {
				verb = "names"
			}
			fail("policy %s table %s, the row grants %v", verb, name, granted)
			continue
		}
		if !has {
			continue
		}
		for _, a := range readActions {
			if !slices.Contains(actions, a) {
				fail("%s lacks %s", name, a)
			}
		}
		for _, a := range writeActions {
			if slices.Contains(actions, a) != r.Access.Writes(name) {
				fail("%s: %s allowed = %v, but the row's Write is %v", name, a, !r.Access.Writes(name), r.Access.Write)
			}
		}
	}
	for id := range tableActions {
		fail("dynamodb actions on %s, which is not a table", id)
	}
	want := func(names []string) []string {
		var out []string
		for _, n := range names {
			out = append(out, ids.queues[n])
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	norm := func(ids []string) []string { slices.Sort(ids); return slices.Compact(ids) }
	if got, w := norm(sendTo), want(r.Access.Send); !slices.Equal(got, w) {
		fail("SendMessage on %v, the row's Send is %v (%v)", got, r.Access.Send, w)
	}
	if got, w := norm(consumeFrom), want(r.Queues); !slices.Equal(got, w) {
		fail("ReceiveMessage on %v, the row's trigger queues are %v (%v)", got, r.Queues, w)
	}
	wantKMS, wantDo := []string(nil), []string(nil)
	switch r.Access.SigningKey {
	case routes.SealKey:
		wantKMS, wantDo = []string{ids.key}, []string{"kms:GenerateDataKey"}
	case routes.SignWithKey:
		wantKMS, wantDo = []string{ids.key}, []string{"kms:Decrypt", "kms:GenerateDataKey"}
	}
	if got := norm(kmsOn); !slices.Equal(got, wantKMS) {
		fail("KMS actions on %v, want %v (SigningKey %v)", got, wantKMS, r.Access.SigningKey)
	}
	if got := norm(kmsDo); !slices.Equal(got, wantDo) {
		fail("KMS actions %v, want %v: a function that never signs holds no Decrypt", got, wantDo)
	}
	wantSecret := []string(nil)
	if r.Access.Secret {
		wantSecret = []string{ids.secret}
	}
	if got := norm(secretOn); !slices.Equal(got, wantSecret) {
		fail("secret access on %v, want %v (Secret %v)", got, wantSecret, r.Access.Secret)
	}
	if got := norm(logsTo); !slices.Equal(got, []string{logGroup}) {
		fail("logs actions on %v, want only its own group %s", got, logGroup)
	}
	if !traced {
		fail("no statement allows %v on *: its X-Ray traces would be refused", xrayActions)
	}
	return errs
}

// Each function's role allows exactly what its route row grants: tables
// (writes only where the row writes), queues, the sealing key, the secret,
// its own log group, and no wildcard but X-Ray's (which takes only *).
func TestLeastPrivilege(t *testing.T) {
	fns := functionIDs(t)
	ids := idsOf(t)
	for _, r := range routes.All {
		fnID := fns[r.Name]
		logGroup := refOf(props(resources[fnID])["LoggingConfig"])
		for _, e := range privilegeErrors(r, logGroup, roleStatements(t, fnID), ids) {
			t.Error(e)
		}
	}
}

// The check above is not vacuous: one extra grant beyond a row is reported.
func TestLeastPrivilegeCatchesExtraGrants(t *testing.T) {
	fns := functionIDs(t)
	ids := idsOf(t)
	r := routes.MustByName("connections-list") // reads one table, nothing else
	fnID := fns[r.Name]
	logGroup := refOf(props(resources[fnID])["LoggingConfig"])
	base := roleStatements(t, fnID)
	if errs := privilegeErrors(r, logGroup, base, ids); len(errs) > 0 {
		t.Fatalf("baseline: %v", errs)
	}
	on := func(id string) map[string]bool { return map[string]bool{id: true} }
	extras := map[string]statement{
		"write to a read table":  {actions: []string{"dynamodb:PutItem"}, refs: on(ids.tables[store.ConnectionsTable])},
		"another table":          {actions: readActions, refs: on(ids.tables[store.MessagesTable])},
		"send to a queue":        {actions: sendActions, refs: on(ids.queues[queue.Delivery])},
		"the sealing key":        {actions: kmsActions, refs: on(ids.key)},
		"the secret":             {actions: []string{"secretsmanager:GetSecretValue"}, refs: on(ids.secret)},
		"a wildcard action":      {actions: []string{"dynamodb:*"}, refs: on(ids.tables[store.ConnectionsTable])},
		"a wildcard resource":    {actions: []string{"dynamodb:GetItem"}, refs: map[string]bool{}, literals: []string{"*"}},
		"an action of no grant":  {actions: []string{"dynamodb:Scan"}, refs: on(ids.tables[store.ConnectionsTable])},
		"another function's log": {actions: logActions, refs: on("SomeoneElsesLogs")},
		"a table action on * beside X-Ray": {actions: []string{"xray:PutTraceSegments", "dynamodb:GetItem"},
			refs: map[string]bool{}, literals: []string{"*"}},
		"X-Ray on a named resource": {actions: xrayActions, refs: on(ids.tables[store.ConnectionsTable])},
	}
	for name, extra := range extras {
		if errs := privilegeErrors(r, logGroup, append(slices.Clone(base), extra), ids); len(errs) == 0 {
			t.Errorf("%s went unnoticed", name)
		}
	}
	// And a role without the X-Ray grant is reported too.
	var untraced []statement
	for _, s := range base {
		if !s.hasAction("xray:") {
			untraced = append(untraced, s)
		}
	}
	if len(untraced) == len(base) {
		t.Fatal("the baseline has no X-Ray statement")
	}
	if errs := privilegeErrors(r, logGroup, untraced, ids); len(errs) == 0 {
		t.Error("a role without X-Ray's actions went unnoticed")
	}
}

func TestAlarms(t *testing.T) {
	alarms := ofType("AWS::CloudWatch::Alarm")
	text := jsonText(alarms)
	// Every dead-lettered job and every suspension is an operator event the
	// functions count (shared/operations); an alarm fires on the first.
	for id, event := range map[string]string{"DeadLettered": federation.OpDeliveryExhausted, "PeerSuspended": federation.OpConnectionSuspended} {
		p := props(alarms[logicalIDOf(t, "AWS::CloudWatch::Alarm", id)])
		dims := map[string]any{}
		for _, d := range asList(p["Dimensions"]) {
			dims[d.(map[string]any)["Name"].(string)] = d.(map[string]any)["Value"]
		}
		if p["Namespace"] != metrics.Namespace || p["MetricName"] != operations.MetricName || p["Statistic"] != "Sum" ||
			dims["Type"] != event || dims["Instance"] != "fedgate" || p["Threshold"] != 0.0 {
			t.Errorf("alarm %s: %s", id, jsonText(p))
		}
	}
	if !strings.Contains(text, "ApproximateAgeOfOldestMessage") {
		t.Error("no alarm on the delivery queue's oldest message")
	}
	// Every function's Errors is in exactly one alarm's expression, which
	// sums all the alarm's metrics and fires on the first error.
	topic := logicalIDOf(t, "AWS::SNS::Topic", "Alarms")
	alarmedIn := map[string][]string{} // function logical id → alarms
	for id, a := range alarms {
		p := props(a)
		if !strings.Contains(jsonText(p["AlarmActions"]), topic) {
			t.Errorf("alarm %s does not notify the alarm topic", id)
		}
		metrics := asList(p["Metrics"])
		if metrics == nil {
			continue
		}
		if len(metrics)-1 > 10 {
			t.Errorf("alarm %s: %d metrics, CloudWatch allows 10 in an alarm's expression", id, len(metrics)-1)
		}
		var expr string
		for _, raw := range metrics {
			if m := raw.(map[string]any); m["ReturnData"] != false && m["Expression"] != nil {
				expr = m["Expression"].(string)
			}
		}
		if p["Threshold"] != 0.0 || p["ComparisonOperator"] != "GreaterThanThreshold" {
			t.Errorf("alarm %s: threshold %v %v, want > 0", id, p["ComparisonOperator"], p["Threshold"])
		}
		for _, raw := range metrics {
			m := raw.(map[string]any)
			stat, ok := m["MetricStat"].(map[string]any)
			if !ok {
				continue
			}
			metric := stat["Metric"].(map[string]any)
			if metric["Namespace"] != "AWS/Lambda" || metric["MetricName"] != "Errors" || stat["Stat"] != "Sum" {
				t.Errorf("alarm %s: metric %s is not a function's Errors sum", id, jsonText(stat))
				continue
			}
			if !regexp.MustCompile(`\b` + m["Id"].(string) + `\b`).MatchString(expr) {
				t.Errorf("alarm %s: expression %q leaves out %s", id, expr, m["Id"])
			}
			fn := refOf(metric["Dimensions"])
			alarmedIn[fn] = append(alarmedIn[fn], id)
		}
	}
	for name, id := range functionIDs(t) {
		if len(alarmedIn[id]) != 1 {
			t.Errorf("function %s's errors are in %d alarms (%v), want 1", name, len(alarmedIn[id]), alarmedIn[id])
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

// No queue or waiting route can take the account's concurrency: every
// event source mapping has its route's maximum concurrency, the routes that
// wait have reserved concurrency (90 in all, as the README's setting says),
// and fedgate:reserveConcurrency=false leaves it out.
func TestConcurrencyBounds(t *testing.T) {
	fns := functionIDs(t)
	mappings := ofType("AWS::Lambda::EventSourceMapping")
	reserved := 0
	for _, r := range routes.All {
		fn := props(resources[fns[r.Name]])
		got, _ := fn["ReservedConcurrentExecutions"].(float64)
		switch {
		case r.IsQueue():
			n := 0
			for _, m := range mappings {
				p := props(m)
				if refOf(p["FunctionName"]) != fns[r.Name] {
					continue
				}
				n++
				scaling, _ := p["ScalingConfig"].(map[string]any)
				if scaling["MaximumConcurrency"] != float64(max(r.Concurrency, 2)) {
					t.Errorf("%s: mapping scaling %v, want maximum concurrency %d", r.Name, scaling, r.Concurrency)
				}
			}
			if n != len(r.Queues) || r.Concurrency == 0 {
				t.Errorf("%s: %d mappings for %d queues, concurrency %d", r.Name, n, len(r.Queues), r.Concurrency)
			}
		case r.IsHTTP() && r.Concurrency > 0:
			if int(got) != r.Concurrency {
				t.Errorf("%s: reserved concurrency %v, want %d", r.Name, got, r.Concurrency)
			}
			reserved += int(got)
		default:
			if got != 0 {
				t.Errorf("%s: reserved concurrency %v, want none", r.Name, got)
			}
		}
	}
	if reserved != 90 {
		t.Errorf("%d reserved in all; the README says 90", reserved)
	}
	_, _, res := synthTemplate(t, map[string]any{"fedgate:reserveConcurrency": false})
	for id, fn := range ofTypeIn(res, "AWS::Lambda::Function") {
		if props(fn)["ReservedConcurrentExecutions"] != nil {
			t.Errorf("%s reserves concurrency under fedgate:reserveConcurrency=false", id)
		}
	}
}
