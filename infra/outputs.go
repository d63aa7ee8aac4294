package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/fedgate/fedgate/shared/routes"
	"github.com/fedgate/fedgate/shared/store"
)

// outputs are what `make deploy` prints (infra/cmd/deployed reads them
// back from build/outputs.json): the instance's address, its identity
// document, whether peers can verify it yet, its dashboard, and the next
// step.
func (b *builder) outputs() {
	out := func(id string, value *string, description string) {
		awscdk.NewCfnOutput(b.stack, jsii.String(id), &awscdk.CfnOutputProps{Value: value, Description: jsii.String(description)})
	}
	url := b.instanceURL()
	join := func(parts ...*string) *string { return awscdk.Fn_Join(jsii.String(""), &parts) }
	out("InstanceUrl", url, "INSTANCE_URL: the address peers and users use")
	out("InstanceDocument", join(url, jsii.String(servedPath("GET", "/instance"))),
		"GET it: this instance's public identity and keys, what peers fetch to verify it")
	out("Federation", jsii.String(b.federationNotice()), "Whether peers can reach and verify this instance")
	out("NextStep", join(jsii.String(`Create an invite for a peer: curl -s -X POST -H "Authorization: Bearer $TOKEN" `), url,
		jsii.String(servedPath("POST", "/connections/invites")+
			` ($TOKEN: a token of `+b.props.JWTIssuer+` with scope `+routes.ScopeAdmin+
			`); the peer's user then POSTs {"remoteUrl":"`), url,
		jsii.String(`","inviteToken":"<token>"} to the peer's .../connections/initiate (README, Deploy)`)),
		"What to do next")
	if b.domainName == nil {
		out("ApiUrl", b.httpAPI.ApiEndpoint(), "The HTTP API's execute-api address (switched off once fedgate:domainName is set)")
	} else {
		out("DomainTarget", b.domainName.RegionalDomainName(), "Where DNS for fedgate:domainName points (CNAME target)")
		out("DomainTargetZone", b.domainName.RegionalHostedZoneId(), "Hosted zone of DomainTarget, for an alias record")
	}
	out("OrchestratorSecretArn", b.orchestratorSecret.SecretArn(), "The orchestrator's API key (put the same value into the orchestrator)")
	out("AlarmTopicArn", b.topic.TopicArn(), "Every alarm goes here")
	out("DashboardUrl", jsii.String(b.dashboardURL(*b.stack.Region())), "The instance's CloudWatch dashboard, which every alarm's description names")
	if b.props.DeletionProtection {
		var kept []*string
		for _, t := range store.Tables {
			kept = append(kept, jsii.String("table "), b.tableNamed(t.Name).TableName(), jsii.String(", "))
		}
		kept = append(kept, jsii.String("KMS key "), b.key.KeyArn())
		out("KeptOnDestroy", join(kept...), "fedgate:deletionProtection: what `make destroy` leaves behind (delete by hand when the data is no longer needed)")
	}
}

// servedPath is the full path of a PROTOCOL route the outputs point to; one
// the route table lacks is a bug, caught at synth.
func servedPath(method, path string) string {
	full := routes.BasePath + path
	if _, _, ok := routes.Match(method, full); !ok {
		panic("infra: no route " + method + " " + full)
	}
	return full
}
