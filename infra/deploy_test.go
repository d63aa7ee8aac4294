package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/fedgate/fedgate/shared/config"
	"github.com/fedgate/fedgate/shared/queue"
	"github.com/fedgate/fedgate/shared/routes"
	"github.com/fedgate/fedgate/shared/store"
)

// Tests of what ops need to deploy an instance (issue #17): the custom
// domain, CloudFormation's limits, the settings, instances side by side,
// and what `make destroy` leaves behind.

const (
	zoneID  = "Z0123456789ABCDEFGHIJ"
	certARN = "arn:aws:acm:eu-west-1:123456789012:certificate/0e5c2f7a-1b2c-4d3e-8f90-123456789abc"
)

// synthTemplate synthesizes a stack of cdk.json's settings with overrides
// and returns it with its template's resources.
func synthTemplate(t *testing.T, overrides map[string]any) (awscdk.Stack, map[string]any, map[string]map[string]any) {
	t.Helper()
	stack, err := synthesize(overrides)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := templateOf(stack)
	return stack, tmpl, resourcesOf(tmpl)
}

func nagFindings(stack awscdk.Stack) []string {
	var out []string
	a := assertions.Annotations_FromStack(stack)
	for _, m := range append(*a.FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))),
		*a.FindWarning(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*")))...) {
		out = append(out, *m.Id+": "+jsonText(m.Entry.Data))
	}
	return out
}

func outputValue(tmpl map[string]any, name string) any {
	o, ok := tmpl["Outputs"].(map[string]any)[name].(map[string]any)
	if !ok {
		return nil
	}
	return o["Value"]
}

func TestCustomDomain(t *testing.T) {
	for _, tc := range []struct {
		name     string
		settings map[string]any
	}{
		{"existing certificate", map[string]any{"fedgate:domainName": "fed.example.org", "fedgate:certificateArn": certARN}},
		{"hosted zone", map[string]any{"fedgate:domainName": "fed.example.org", "fedgate:hostedZoneId": zoneID, "fedgate:hostedZoneName": "example.org"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stack, tmpl, res := synthTemplate(t, tc.settings)
			domains := ofTypeIn(res, "AWS::ApiGatewayV2::DomainName")
			if len(domains) != 1 {
				t.Fatalf("%d domain names, want 1", len(domains))
			}
			var domainID string
			var domain map[string]any
			for id, d := range domains {
				domainID, domain = id, props(d)
			}
			if domain["DomainName"] != "fed.example.org" {
				t.Errorf("domain name %v", domain["DomainName"])
			}
			cfg := jsonText(domain["DomainNameConfigurations"])
			if !strings.Contains(cfg, `"EndpointType":"REGIONAL"`) || !strings.Contains(cfg, `"SecurityPolicy":"TLS_1_2"`) {
				t.Errorf("domain configuration %s", cfg)
			}
			certs := ofTypeIn(res, "AWS::CertificateManager::Certificate")
			records := ofTypeIn(res, "AWS::Route53::RecordSet")
			if _, ok := tc.settings["fedgate:certificateArn"]; ok {
				if !strings.Contains(cfg, certARN) {
					t.Errorf("domain does not use the certificate: %s", cfg)
				}
				if len(certs) != 0 || len(records) != 0 {
					t.Errorf("%d certificates and %d records made; the operator has both", len(certs), len(records))
				}
				if outputValue(tmpl, "DomainTarget") == nil || !strings.Contains(jsonText(outputValue(tmpl, "Federation")), "Point DNS") {
					t.Errorf("outputs do not say where DNS must point: %s", jsonText(tmpl["Outputs"]))
				}
			} else {
				if len(certs) != 1 {
					t.Fatalf("%d certificates, want 1", len(certs))
				}
				for id, c := range certs {
					p := props(c)
					if p["DomainName"] != "fed.example.org" || p["ValidationMethod"] != "DNS" ||
						!strings.Contains(jsonText(p["DomainValidationOptions"]), zoneID) {
						t.Errorf("certificate %s", jsonText(p))
					}
					if !strings.Contains(cfg, id) {
						t.Errorf("domain does not use certificate %s: %s", id, cfg)
					}
				}
				if len(records) != 1 {
					t.Fatalf("%d DNS records, want 1", len(records))
				}
				for _, r := range records {
					p := props(r)
					alias := jsonText(p["AliasTarget"])
					if p["Type"] != "A" || p["Name"] != "fed.example.org." || p["HostedZoneId"] != zoneID ||
						!strings.Contains(alias, domainID) || !strings.Contains(alias, "RegionalDomainName") {
						t.Errorf("record %s", jsonText(p))
					}
				}
			}
			apiID := logicalIDOf2(t, res, "AWS::ApiGatewayV2::Api", "Api")
			mappings := ofTypeIn(res, "AWS::ApiGatewayV2::ApiMapping")
			if len(mappings) != 1 {
				t.Fatalf("%d API mappings, want 1", len(mappings))
			}
			for _, m := range mappings {
				p := props(m)
				if refOf(p["ApiId"]) != apiID || refOf(p["DomainName"]) != domainID || p["Stage"] != "$default" {
					t.Errorf("mapping %s", jsonText(p))
				}
				if stage := logicalIDOf2(t, res, "AWS::ApiGatewayV2::Stage", "DefaultStage"); !strings.Contains(jsonText(m["DependsOn"]), stage) {
					t.Errorf("mapping does not wait for the default stage: %s", jsonText(m))
				}
			}
			if props(res[apiID])["DisableExecuteApiEndpoint"] != true {
				t.Error("the execute-api address stays on beside the domain")
			}
			for id, fn := range ofTypeIn(res, "AWS::Lambda::Function") {
				if got := props(fn)["Environment"].(map[string]any)["Variables"].(map[string]any)["INSTANCE_URL"]; got != "https://fed.example.org" {
					t.Errorf("%s: INSTANCE_URL %s, want https://fed.example.org", id, jsonText(got))
				}
			}
			if got := outputValue(tmpl, "InstanceUrl"); got != "https://fed.example.org" {
				t.Errorf("InstanceUrl output %s", jsonText(got))
			}
			if outputValue(tmpl, "ApiUrl") != nil {
				t.Error("ApiUrl output names a switched-off address")
			}
			for _, f := range nagFindings(stack) {
				t.Errorf("cdk-nag: %s", f)
			}
		})
	}
}

// logicalIDOf2 is logicalIDOf for another template's resources.
func logicalIDOf2(t *testing.T, res map[string]map[string]any, typ, namePart string) string {
	t.Helper()
	for id, r := range ofTypeIn(res, typ) {
		if md, ok := r["Metadata"].(map[string]any); ok {
			if path, _ := md["aws:cdk:path"].(string); strings.Contains(path, "/"+namePart+"/") {
				return id
			}
		}
	}
	t.Fatalf("no %s for %s", typ, namePart)
	return ""
}

// Without a domain, INSTANCE_URL is fedgate:instanceUrl or, with neither,
// the API's execute-api address; the outputs say peers cannot rely on it.
func TestInstanceURLWithoutDomain(t *testing.T) {
	t.Run("instanceUrl", func(t *testing.T) {
		_, tmpl, res := synthTemplate(t, map[string]any{"fedgate:instanceUrl": "https://fed.example.org"})
		for id, fn := range ofTypeIn(res, "AWS::Lambda::Function") {
			if got := props(fn)["Environment"].(map[string]any)["Variables"].(map[string]any)["INSTANCE_URL"]; got != "https://fed.example.org" {
				t.Errorf("%s: INSTANCE_URL %s", id, jsonText(got))
			}
		}
		if len(ofTypeIn(res, "AWS::ApiGatewayV2::DomainName")) != 0 {
			t.Error("a domain name without fedgate:domainName")
		}
		if notice := jsonText(outputValue(tmpl, "Federation")); !strings.Contains(notice, "Peers cannot verify this instance") {
			t.Errorf("Federation output %s", notice)
		}
	})
	t.Run("neither", func(t *testing.T) {
		_, tmpl, res := synthTemplate(t, map[string]any{"fedgate:instanceUrl": nil})
		apiID := logicalIDOf2(t, res, "AWS::ApiGatewayV2::Api", "Api")
		for id, fn := range ofTypeIn(res, "AWS::Lambda::Function") {
			v := props(fn)["Environment"].(map[string]any)["Variables"].(map[string]any)["INSTANCE_URL"]
			if got := jsonText(v); refOf(v) != apiID || !strings.Contains(got, "ApiEndpoint") {
				t.Errorf("%s: INSTANCE_URL %s, want the API's execute-api address", id, got)
			}
		}
		if props(res[apiID])["DisableExecuteApiEndpoint"] == true {
			t.Error("the only address is switched off")
		}
		if notice := jsonText(outputValue(tmpl, "Federation")); !strings.Contains(notice, "set fedgate:domainName") {
			t.Errorf("Federation output %s", notice)
		}
	})
}

// CloudFormation allows 500 resources and a 1 MB template (from S3); the
// stack stays at most at 450 and under 800 KB in its largest form (a domain
// with certificate and DNS record, alarm e-mail), leaving room for what is
// planned (doc.go: resource budget).
func TestLimits(t *testing.T) {
	for _, tc := range []struct {
		name     string
		settings map[string]any
	}{
		{"cdk.json", nil},
		{"largest", map[string]any{"fedgate:domainName": "fed.example.org", "fedgate:hostedZoneId": zoneID,
			"fedgate:hostedZoneName": "example.org", "fedgate:alarmEmail": "ops@example.org"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stack, _, res := synthTemplate(t, tc.settings)
			asm := awscdk.Stage_Of(stack).Synth(nil)
			info, err := os.Stat(filepath.Join(*asm.Directory(), *stack.TemplateFile()))
			if err != nil {
				t.Fatal(err)
			}
			size := info.Size()
			// What the route table and roadmap will add: 4 functions (at most 5
			// resources each: function, role, route, integration, permission),
			// two new capabilities (a log group and an alarm each) and 2 alarms.
			// The dashboard and the $default route once planned here are in
			// the stack now (res counts them).
			const planned = 4*5 + 2*2 + 2
			t.Logf("%s: %d resources (limit 450, 500 in CloudFormation; %d with what is planned), template %d bytes (%.0f KB; limit 800 KB)",
				tc.name, len(res), len(res)+planned, size, float64(size)/1024)
			if len(res)+planned > 450 {
				t.Errorf("%d resources, %d with what is planned: over 450", len(res), len(res)+planned)
			}
			if size > 800*1024 {
				t.Errorf("template of %d bytes: over 800 KB", size)
			}
		})
	}
}

// A function costs few resources: its own (function, role) and its
// trigger's; nothing per function for policies, logs or alarms. Each
// function keeps a role of its own (its identity in CloudTrail).
func TestCostPerFunction(t *testing.T) {
	roles := map[string]string{}
	for name, id := range functionIDs(t) {
		role := refOf(props(resources[id])["Role"])
		if other, shared := roles[role]; shared {
			t.Errorf("functions %s and %s share role %s", name, other, role)
		}
		roles[role] = name
	}
	if n := len(ofType("AWS::IAM::Policy")); n != 0 {
		t.Errorf("%d AWS::IAM::Policy resources: grants belong inline in each function's role", n)
	}
	caps := map[string]bool{}
	for _, r := range routes.All {
		caps[capability(r)] = true
	}
	if n := len(ofType("AWS::Logs::LogGroup")); n > len(caps)+1 {
		t.Errorf("%d log groups: more than one per capability (%d) and the access logs", n, len(caps))
	}
	if n, most := len(ofType("AWS::CloudWatch::Alarm")), len(queue.Queues)+1+len(caps)+len(routes.All)/maxAlarmMetrics; n > most {
		t.Errorf("%d alarms, more than the queues' and one per capability and ten functions (%d)", n, most)
	}
	t.Logf("%d functions in %d capabilities; %d alarms", len(routes.All), len(caps), len(ofType("AWS::CloudWatch::Alarm")))
}

// Two instances in one account and region: every name that must be unique
// there carries the instance name, and nothing else has a fixed name.
func TestTwoInstancesInOneApp(t *testing.T) {
	app, err := testApp(nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, _ := testContext(nil)
	var stacks []awscdk.Stack
	for _, name := range []string{"hub", "spoke"} {
		c := merged(ctx, map[string]any{"fedgate:instanceName": name, "fedgate:instanceUrl": nil, "fedgate:domainName": name + ".example.org",
			"fedgate:hostedZoneId": zoneID, "fedgate:hostedZoneName": "example.org"})
		p, err := loadSettings(c)
		if err != nil {
			t.Fatal(err)
		}
		stacks = append(stacks, NewFedgateStack(app, stackID(name), p))
	}
	// Properties that name a resource, by type; types not listed must not
	// be named at all (CloudFormation then makes a name from the stack's).
	nameProps := map[string]string{
		"AWS::Lambda::Function": "FunctionName", "AWS::Logs::LogGroup": "LogGroupName", "AWS::CloudWatch::Alarm": "AlarmName",
		"AWS::ApiGatewayV2::Api": "Name", "AWS::ApiGatewayV2::DomainName": "DomainName", "AWS::CloudWatch::Dashboard": "DashboardName",
	}
	unnamed := map[string]string{
		"AWS::DynamoDB::Table": "TableName", "AWS::SQS::Queue": "QueueName", "AWS::SNS::Topic": "TopicName",
		"AWS::SecretsManager::Secret": "Name", "AWS::Events::Rule": "Name", "AWS::IAM::Role": "RoleName", "AWS::KMS::Alias": "AliasName",
	}
	owner := map[string]string{} // name → stack
	for i, stack := range stacks {
		instance := []string{"hub", "spoke"}[i]
		if !strings.Contains(*stack.StackName(), instance) {
			t.Errorf("stack name %s lacks the instance name", *stack.StackName())
		}
		for id, r := range resourcesOf(templateOf(stack)) {
			typ := r["Type"].(string)
			p, _ := r["Properties"].(map[string]any)
			if prop, ok := unnamed[typ]; ok && p[prop] != nil {
				t.Errorf("%s %s has the fixed name %v", typ, id, p[prop])
			}
			prop, ok := nameProps[typ]
			if !ok {
				continue
			}
			name, isText := p[prop].(string)
			if !isText {
				t.Errorf("%s %s: no fixed %s", typ, id, prop)
				continue
			}
			if !strings.Contains(name, instance) {
				t.Errorf("%s %s: name %s lacks the instance name %s", typ, id, name, instance)
			}
			if other, dup := owner[typ+" "+name]; dup {
				t.Errorf("%s %s named in %s and %s", typ, name, other, *stack.StackName())
			}
			owner[typ+" "+name] = *stack.StackName()
		}
	}
	if *stacks[0].StackName() == *stacks[1].StackName() {
		t.Error("both instances have one stack name")
	}
	if len(owner) < 2*len(routes.All) {
		t.Errorf("only %d names checked", len(owner))
	}
}

func merged(base, over map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		out[k] = v
	}
	return out
}

// Under deletion protection `make destroy` keeps the tables and the key
// that seals the signing keys, and only them; without it nothing stays.
func TestWhatDestroyKeeps(t *testing.T) {
	kept := func(res map[string]map[string]any) []string {
		var out []string
		for id, r := range res {
			if r["DeletionPolicy"] != nil && r["DeletionPolicy"] != "Delete" {
				out = append(out, r["Type"].(string)+" "+id)
			}
		}
		slices.Sort(out)
		return out
	}
	var want []string
	for id, r := range ofType("AWS::DynamoDB::Table") {
		want = append(want, "AWS::DynamoDB::Table "+id)
		if props(r)["DeletionProtectionEnabled"] != true {
			t.Errorf("table %s without deletion protection", id)
		}
		if r["UpdateReplacePolicy"] != "Retain" {
			t.Errorf("table %s: UpdateReplacePolicy %v", id, r["UpdateReplacePolicy"])
		}
	}
	want = append(want, "AWS::KMS::Key "+logicalIDOf(t, "AWS::KMS::Key", "SigningKeySealer"))
	slices.Sort(want)
	if got := kept(resources); !slices.Equal(got, want) {
		t.Errorf("deletion protection keeps %v, want %v", got, want)
	}
	if outputValue(template, "KeptOnDestroy") == nil {
		t.Error("no KeptOnDestroy output")
	}
	_, tmpl, res := synthTemplate(t, map[string]any{"fedgate:deletionProtection": false})
	if got := kept(res); len(got) != 0 {
		t.Errorf("without deletion protection %v stay", got)
	}
	for id, r := range ofTypeIn(res, "AWS::DynamoDB::Table") {
		if props(r)["DeletionProtectionEnabled"] == true {
			t.Errorf("table %s keeps deletion protection", id)
		}
	}
	if outputValue(tmpl, "KeptOnDestroy") != nil {
		t.Error("KeptOnDestroy output without deletion protection")
	}
}

// validSettings are settings that pass, which each case below spoils.
func validSettings() map[string]any {
	return map[string]any{
		"fedgate:instanceName": "hub", "fedgate:jwtIssuer": "https://idp.example.org/", "fedgate:codeDir": placeholderCode(),
		"fedgate:retentionDays": 30.0, "fedgate:deletionProtection": true,
	}
}

func TestInvalidSettings(t *testing.T) {
	if _, err := loadSettings(validSettings()); err != nil {
		t.Fatalf("valid settings refused: %v", err)
	}
	domain := map[string]any{"fedgate:domainName": "fed.example.org"}
	for _, tc := range []struct {
		name string
		set  map[string]any
		want []string // in the message
	}{
		{"http instanceUrl", map[string]any{"fedgate:instanceUrl": "http://fed.example.org"}, []string{"fedgate:instanceUrl", "an https URL with nothing after the host"}},
		{"instanceUrl with a path", map[string]any{"fedgate:instanceUrl": "https://example.org/fed"}, []string{"fedgate:instanceUrl", "no path"}},
		{"instanceUrl with a slash", map[string]any{"fedgate:instanceUrl": "https://fed.example.org/"}, []string{"fedgate:instanceUrl"}},
		{"instanceUrl with a query", map[string]any{"fedgate:instanceUrl": "https://fed.example.org?x=1"}, []string{"fedgate:instanceUrl"}},
		{"empty JWT issuer", map[string]any{"fedgate:jwtIssuer": ""}, []string{"fedgate:jwtIssuer is required", "an https URL"}},
		{"no JWT issuer", map[string]any{"fedgate:jwtIssuer": nil}, []string{"fedgate:jwtIssuer is required"}},
		{"http JWT issuer", map[string]any{"fedgate:jwtIssuer": "http://idp.example.org/"}, []string{"fedgate:jwtIssuer", "an https URL"}},
		{"retention of 0 days", map[string]any{"fedgate:retentionDays": 0.0}, []string{"fedgate:retentionDays \"0\"", "a whole number from 1 to 3650"}},
		{"retention in days and a half", map[string]any{"fedgate:retentionDays": "1.5"}, []string{"fedgate:retentionDays", "whole number"}},
		{"log retention CloudWatch lacks", map[string]any{"fedgate:logRetentionDays": "31"}, []string{"fedgate:logRetentionDays", "CloudWatch Logs offers"}},
		{"unknown signing algorithm", map[string]any{"fedgate:signingAlg": "HS256"}, []string{"fedgate:signingAlg \"HS256\"", "RS256 or EdDSA"}},
		{"malformed rate", map[string]any{"fedgate:rateLimit": "fast"}, []string{"fedgate:rateLimit", "a number greater than 0"}},
		{"negative incoming rate", map[string]any{"fedgate:incomingRateLimit": -5.0}, []string{"fedgate:incomingRateLimit", "greater than 0"}},
		{"fractional burst", map[string]any{"fedgate:burstLimit": "10.5"}, []string{"fedgate:burstLimit", "whole number"}},
		{"malformed incoming burst", map[string]any{"fedgate:incomingBurstLimit": "1e3x"}, []string{"fedgate:incomingBurstLimit"}},
		{"deletion protection yes", map[string]any{"fedgate:deletionProtection": "yes"}, []string{"fedgate:deletionProtection", "true or false"}},
		{"instance name with capitals", map[string]any{"fedgate:instanceName": "Hub"}, []string{"fedgate:instanceName", "lower-case"}},
		{"instance name too long", map[string]any{"fedgate:instanceName": "a-very-long-instance-name"}, []string{"fedgate:instanceName", "1 to 20"}},
		{"two e-mails", map[string]any{"fedgate:alarmEmail": "a@example.org,b@example.org"}, []string{"fedgate:alarmEmail", "one e-mail address"}},
		{"command type", map[string]any{"fedgate:commandTypes": "agent.spawn,Spawn"}, []string{"fedgate:commandTypes", "dot-separated lower-case words"}},
		{"event type", map[string]any{"fedgate:eventTypes": "task"}, []string{"fedgate:eventTypes"}},
		{"empty audience", map[string]any{"fedgate:jwtAudience": "fedgate,"}, []string{"fedgate:jwtAudience"}},
		{"orchestrator over http", map[string]any{"fedgate:orchestratorUrl": "http://orchestrator:8080"}, []string{"fedgate:orchestratorUrl", "an https URL"}},
		{"unknown key", map[string]any{"fedgate:instanceURL": "https://fed.example.org"}, []string{"fedgate:instanceURL is not a setting"}},
		{"domain with scheme", map[string]any{"fedgate:domainName": "https://fed.example.org", "fedgate:certificateArn": certARN}, []string{"fedgate:domainName", "DNS name"}},
		{"malformed certificate", merged(domain, map[string]any{"fedgate:certificateArn": "arn:aws:iam::123456789012:server-certificate/x"}), []string{"fedgate:certificateArn", "an ACM certificate ARN"}},
		{"malformed zone", merged(domain, map[string]any{"fedgate:hostedZoneId": "example.org", "fedgate:hostedZoneName": "example.org"}), []string{"fedgate:hostedZoneId", "Route 53 hosted zone id"}},
		{"certificate without domain", map[string]any{"fedgate:certificateArn": certARN}, []string{"fedgate:certificateArn is set but fedgate:domainName is not"}},
		{"zone without domain", map[string]any{"fedgate:hostedZoneId": zoneID, "fedgate:hostedZoneName": "example.org"}, []string{"fedgate:domainName is not"}},
		{"certificate and zone", merged(domain, map[string]any{"fedgate:certificateArn": certARN, "fedgate:hostedZoneId": zoneID, "fedgate:hostedZoneName": "example.org"}), []string{"either fedgate:certificateArn", "not both"}},
		{"domain without certificate", domain, []string{"fedgate:domainName fed.example.org needs a certificate"}},
		{"zone without its name", merged(domain, map[string]any{"fedgate:hostedZoneId": zoneID}), []string{"fedgate:hostedZoneId and fedgate:hostedZoneName go together"}},
		{"domain outside the zone", merged(domain, map[string]any{"fedgate:hostedZoneId": zoneID, "fedgate:hostedZoneName": "example.com"}), []string{"is not in the zone"}},
		{"domain and another instanceUrl", merged(domain, map[string]any{"fedgate:certificateArn": certARN, "fedgate:instanceUrl": "https://other.example.org"}), []string{"disagrees with fedgate:domainName"}},
		{"no function code", map[string]any{"fedgate:codeDir": t.TempDir()}, []string{"fedgate:codeDir", "run make build"}},
		{"first retry wait over the longest", map[string]any{"fedgate:retryBaseSeconds": "600", "fedgate:retryMaxDelaySeconds": "60"}, []string{"fedgate:retryBaseSeconds 600 is more than fedgate:retryMaxDelaySeconds 60"}},
		{"no retries", map[string]any{"fedgate:retryMaxAttempts": "0"}, []string{"fedgate:retryMaxAttempts", "a whole number from 1 to 1000"}},
		{"ACK deadline of seconds", map[string]any{"fedgate:ackDeadlineSeconds": "5"}, []string{"fedgate:ackDeadlineSeconds", "from 10"}},
		{"port 0", map[string]any{"fedgate:peerPorts": "443,0"}, []string{"fedgate:peerPorts", "port numbers"}},
		{"query backend over http", map[string]any{"fedgate:queryBackendUrl": "http://platform.internal"}, []string{"fedgate:queryBackendUrl", "an https URL"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadSettings(merged(validSettings(), tc.set))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message %q lacks %q", err, w)
				}
			}
		})
	}
}

// Invalid settings stop synthesis (main exits 1 with the message), and all
// problems are told at once.
func TestInvalidSettingsFailSynth(t *testing.T) {
	_, err := synthesize(map[string]any{"fedgate:signingAlg": "HS256", "fedgate:retentionDays": 0})
	if err == nil {
		t.Fatal("synthesized")
	}
	for _, w := range []string{"fedgate:signingAlg", "fedgate:retentionDays"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("message %q lacks %s", err, w)
		}
	}
}

// A valid value of every setting passes, and an empty one means its default.
func TestSettingExamplesAndDefaults(t *testing.T) {
	for _, s := range settings {
		if s.example == "" || !s.form.Check(s.example, false) {
			t.Errorf("%s: example %q does not pass its own form (%s)", s.key, s.example, s.form.What)
		}
		if s.def != "" && !s.form.Check(s.def, false) {
			t.Errorf("%s: default %q does not pass its own form", s.key, s.def)
		}
		if s.env == "" && s.apply == nil {
			t.Errorf("%s goes nowhere: give it an env or an apply", s.key)
		}
	}
	p, err := loadSettings(merged(validSettings(), map[string]any{"fedgate:signingAlg": "", "fedgate:rateLimit": ""}))
	if err != nil {
		t.Fatal(err)
	}
	if p.FunctionEnv["SIGNING_ALG"] != "RS256" || p.RateLimit != 200 {
		t.Errorf("empty values did not take the defaults: %v, %v", p.FunctionEnv["SIGNING_ALG"], p.RateLimit)
	}
}

var updateReadme = flag.Bool("update-readme", false, "write the settings table into README.md's Deploy section")

// settingsTable is README's Deploy settings table, made from settings.
func settingsTable() string {
	var b strings.Builder
	b.WriteString("| context key | default | example | meaning |\n|---|---|---|---|\n")
	for _, s := range settings {
		def := "`" + s.def + "`"
		switch {
		case s.required:
			def = "required"
		case s.def == "":
			def = "none"
		}
		doc := s.doc
		if s.env != "" {
			doc += " (`" + s.env + "`)"
		}
		fmt.Fprintf(&b, "| `%s` | %s | `%s` | %s |\n", s.key, def, s.example, doc)
	}
	return b.String()
}

// The README's Deploy section lists every setting, written from the table
// (go test ./infra -run ReadmeListsSettings -update-readme).
func TestReadmeListsSettings(t *testing.T) {
	const path = "../README.md"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	head := "| context key | default | example | meaning |\n"
	start := strings.Index(text, head)
	if start < 0 {
		t.Fatal("README has no settings table")
	}
	end := start + strings.Index(text[start:], "\n\n") + 1
	if got, want := text[start:end], settingsTable(); got != want {
		if *updateReadme {
			if err := os.WriteFile(path, []byte(text[:start]+want+text[end:]), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Errorf("README's settings table is not the settings; run go test ./infra -run ReadmeListsSettings -update-readme\nwant:\n%s", want)
	}
}

// Names stay within AWS's limits for the longest instance name the settings
// allow: a function's name at most 64 characters.
func TestNamesFitLongestInstanceName(t *testing.T) {
	longest := strings.Repeat("a", 20)
	if _, err := loadSettings(merged(validSettings(), map[string]any{"fedgate:instanceName": longest})); err != nil {
		t.Fatalf("a 20-character instance name refused: %v", err)
	}
	b := &builder{props: Props{InstanceName: longest}}
	for _, r := range routes.All {
		if name := b.physicalName(r.Name); len(name) > 64 {
			t.Errorf("function name %s has %d characters; Lambda allows 64", name, len(name))
		}
	}
}

// Every setting that becomes a function's environment variable is read by
// the functions under that name: each example, set through the stack's
// settings, is what the functions' configuration holds.
func TestSettingsReachTheFunctions(t *testing.T) {
	for _, tb := range store.Tables {
		t.Setenv(store.EnvVar(tb.Name), "t-"+tb.Name)
	}
	for _, q := range queue.Queues {
		t.Setenv(queue.URLEnvVar(q.Name), "https://sqs/"+q.Name)
		t.Setenv(queue.URLEnvVar(q.DLQName()), "https://sqs/"+q.DLQName())
	}
	t.Setenv("KMS_KEY_ID", "arn:aws:kms:eu-west-1:1:key/x")
	t.Setenv("INSTANCE_URL", "https://fed.example.org")
	for _, st := range config.Settings {
		if st.Context == "" {
			continue
		}
		t.Run(st.Context, func(t *testing.T) {
			p, err := loadSettings(merged(validSettings(), map[string]any{st.Context: st.Example}))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range p.FunctionEnv {
				t.Setenv(k, v)
			}
			c, err := config.FromEnv()
			if err != nil {
				t.Fatal(err)
			}
			if got := st.Text(&c); got != st.Example {
				t.Errorf("%s=%s reaches the functions as %s = %q", st.Context, st.Example, st.Field, got)
			}
		})
	}
}
