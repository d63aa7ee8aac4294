package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

func main() {
	defer jsii.Close()
	app := awscdk.NewApp(nil)
	p, err := propsFromContext(app)
	if err != nil {
		fmt.Fprintln(os.Stderr, "infra:", err)
		os.Exit(1)
	}
	NewFedgateStack(app, stackID(p.InstanceName), p)
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	app.Synth(nil)
}

// stackID names the stack of an instance: FedgateStack for "fedgate",
// FedgateStack-<name> otherwise, so several instances share an account.
func stackID(name string) string {
	if name == "" || name == "fedgate" {
		return "FedgateStack"
	}
	return "FedgateStack-" + name
}

// propsFromContext reads the stack's settings from cdk.json's "context"
// (override any with `cdk synth -c key=value`).
func propsFromContext(app awscdk.App) (Props, error) {
	get := func(key, def string) string {
		v := app.Node().TryGetContext(jsii.String(key))
		if v == nil {
			return def
		}
		return fmt.Sprint(v)
	}
	num := func(key string, def float64) (float64, error) {
		s := get(key, "")
		if s == "" {
			return def, nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, fmt.Errorf("context %s: %w", key, err)
		}
		return f, nil
	}
	p := Props{
		InstanceName:       get("fedgate:instanceName", "fedgate"),
		InstanceURL:        get("fedgate:instanceUrl", ""),
		JWTIssuer:          get("fedgate:jwtIssuer", ""),
		JWTAudience:        strings.Split(get("fedgate:jwtAudience", "fedgate"), ","),
		WorkspaceClaim:     get("fedgate:workspaceClaim", "workspace_id"),
		SigningAlg:         get("fedgate:signingAlg", "RS256"),
		AlarmEmail:         get("fedgate:alarmEmail", ""),
		OrchestratorURL:    get("fedgate:orchestratorUrl", ""),
		CommandTypes:       get("fedgate:commandTypes", ""),
		DeletionProtection: get("fedgate:deletionProtection", "true") == "true",
		CodeDir:            get("fedgate:codeDir", "build"),
	}
	var err error
	days, err := num("fedgate:retentionDays", 30)
	if err != nil {
		return p, err
	}
	p.RetentionDays = int(days)
	for key, dst := range map[string]*float64{
		"fedgate:rateLimit": &p.RateLimit, "fedgate:burstLimit": &p.BurstLimit,
		"fedgate:incomingRateLimit": &p.IncomingRateLimit, "fedgate:incomingBurstLimit": &p.IncomingBurstLimit,
	} {
		def := map[string]float64{"fedgate:rateLimit": 200, "fedgate:burstLimit": 400, "fedgate:incomingRateLimit": 50, "fedgate:incomingBurstLimit": 100}[key]
		if *dst, err = num(key, def); err != nil {
			return p, err
		}
	}
	if p.InstanceURL == "" || p.JWTIssuer == "" {
		return p, fmt.Errorf("context fedgate:instanceUrl and fedgate:jwtIssuer are required (cdk.json or -c)")
	}
	return p, nil
}
