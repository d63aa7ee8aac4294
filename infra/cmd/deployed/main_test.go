package main

import (
	"strings"
	"testing"
)

func TestSummarize(t *testing.T) {
	outputs := `{"FedgateStack-hub": {
		"InstanceUrl": "https://hub.example.org",
		"InstanceDocument": "https://hub.example.org/api/v1/federation/instance",
		"Federation": "Ready: peers reach and verify this instance at https://hub.example.org.",
		"NextStep": "Create an invite for a peer: curl -s -X POST https://hub.example.org/api/v1/federation/connections/invites",
		"AlarmTopicArn": "arn:aws:sns:eu-west-1:123456789012:x",
		"DashboardUrl": "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#dashboards:name=fedgate-hub"}}`
	var b strings.Builder
	if err := summarize(&b, []byte(outputs), "build/outputs.json"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"FedgateStack-hub is deployed.", "Instance URL:  https://hub.example.org",
		"GET https://hub.example.org/api/v1/federation/instance", "Ready:", "Next step. Create an invite",
		"Dashboard:     https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#dashboards:name=fedgate-hub",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
	for _, bad := range []string{`{}`, `{"Other": {"BucketName": "b"}}`, `not json`} {
		if err := summarize(&b, []byte(bad), "f"); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
