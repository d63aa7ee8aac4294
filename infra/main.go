package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

func main() {
	defer jsii.Close()
	app := awscdk.NewApp(nil)
	if _, err := build(app); err != nil {
		fmt.Fprintln(os.Stderr, "infra:", err)
		jsii.Close()
		os.Exit(1)
	}
	app.Synth(nil)
}

// build adds the stack of the instance the context describes to app, with
// cdk-nag's AwsSolutions checks; invalid settings stop it before any
// resource exists, so `cdk synth` and `cdk deploy` fail with their message.
func build(app awscdk.App) (awscdk.Stack, error) {
	p, err := propsFromContext(app)
	if err != nil {
		return nil, err
	}
	stack := NewFedgateStack(app, stackID(p.InstanceName), p)
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	return stack, nil
}

// stackID names the stack of an instance: FedgateStack for "fedgate",
// FedgateStack-<name> otherwise, so several instances share an account.
func stackID(name string) string {
	if name == "" || name == "fedgate" {
		return "FedgateStack"
	}
	return "FedgateStack-" + name
}

// propsFromContext reads and checks the settings (settings.go) from the
// app's context: cdk.json's "context", overridden by `cdk synth -c key=value`.
func propsFromContext(app awscdk.App) (Props, error) {
	all, _ := app.Node().GetAllContext(nil).(map[string]any)
	return loadSettings(all)
}
