package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2authorizers"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/fedgate/fedgate/shared/routes"
)

// api creates the HTTP API and the JWT authorizer of user and admin routes;
// httpRoute adds the routes, stage finishes it.
func (b *builder) api() {
	b.accessLogs = b.logGroup("ApiAccessLogs", "/aws/apigateway/"+b.physicalName("access"))
	b.httpAPI = awsapigatewayv2.NewHttpApi(b.stack, jsii.String("Api"), &awsapigatewayv2.HttpApiProps{
		ApiName:     jsii.String(b.physicalName()),
		Description: jsii.String("fedgate federation gateway " + b.props.InstanceName),
		// With a custom domain it is the only address (domain.go).
		DefaultDomainMapping:      b.domainMapping(),
		DisableExecuteApiEndpoint: jsii.Bool(b.domainName != nil),
	})
	b.jwt = awsapigatewayv2authorizers.NewHttpJwtAuthorizer(jsii.String("Jwt"), jsii.String(b.props.JWTIssuer), &awsapigatewayv2authorizers.HttpJwtAuthorizerProps{
		JwtAudience: jsii.Strings(b.props.JWTAudience...),
	})
	b.incomingThrottling = map[string]any{}
}

// httpRoute serves r's method and path with fn.
func (b *builder) httpRoute(r routes.Route, fn awslambda.Function) {
	if r.IsDefault() {
		route := awsapigatewayv2.NewHttpRoute(b.stack, jsii.String("DefaultRoute"), &awsapigatewayv2.HttpRouteProps{
			HttpApi: b.httpAPI, RouteKey: awsapigatewayv2.HttpRouteKey_DEFAULT(),
			Integration: awsapigatewayv2integrations.NewHttpLambdaIntegration(jsii.String(pascal(r.Name)+"Integration"), fn, nil),
		})
		cdknag.NagSuppressions_AddResourceSuppressions(route, &[]*cdknag.NagPackSuppression{{
			Id:     jsii.String("AwsSolutions-APIG4"),
			Reason: jsii.String("Answers requests no route matches with a 404 in the protocol's error shape; it reads and returns nothing else"),
		}}, jsii.Bool(true))
		return
	}
	opts := &awsapigatewayv2.AddRoutesOptions{
		Path:        jsii.String(r.FullPath()),
		Methods:     &[]awsapigatewayv2.HttpMethod{awsapigatewayv2.HttpMethod(r.Method)},
		Integration: awsapigatewayv2integrations.NewHttpLambdaIntegration(jsii.String(pascal(r.Name)+"Integration"), fn, nil),
	}
	if r.NeedsToken() {
		opts.Authorizer = b.jwt
	}
	if scopes := r.Scopes(); len(scopes) > 0 {
		// The authorizer refuses a token without one of the scopes before the
		// function runs (which checks again).
		opts.AuthorizationScopes = jsii.Strings(scopes...)
	}
	for _, route := range *b.httpAPI.AddRoutes(opts) {
		if !r.NeedsToken() {
			cdknag.NagSuppressions_AddResourceSuppressions(route, &[]*cdknag.NagPackSuppression{{
				Id:     jsii.String("AwsSolutions-APIG4"),
				Reason: jsii.String("By protocol this route carries no token: " + authReason(r.Auth)),
			}}, jsii.Bool(true))
		}
	}
	// No authorizer stands in front of /incoming/* (the function verifies the
	// signature), so anyone's requests reach Lambda: a tighter limit there.
	if r.Auth == routes.Signed {
		b.incomingThrottling[r.RouteKey()] = map[string]any{
			"ThrottlingRateLimit": b.props.IncomingRateLimit, "ThrottlingBurstLimit": b.props.IncomingBurstLimit,
		}
	}
}

// stage sets access logs and throttling on the default stage, which the
// HttpApi construct does not expose.
func (b *builder) stage() {
	stage := b.httpAPI.DefaultStage().Node().DefaultChild().(awsapigatewayv2.CfnStage)
	stage.SetAccessLogSettings(&awsapigatewayv2.CfnStage_AccessLogSettingsProperty{
		DestinationArn: b.accessLogs.LogGroupArn(),
		Format: jsii.String(`{"requestId":"$context.requestId","ip":"$context.identity.sourceIp","time":"$context.requestTime",` +
			`"method":"$context.httpMethod","route":"$context.routeKey","status":"$context.status","latencyMs":"$context.responseLatency",` +
			`"integrationError":"$context.integrationErrorMessage","authorizerError":"$context.authorizer.error"}`),
	})
	stage.SetDefaultRouteSettings(&awsapigatewayv2.CfnStage_RouteSettingsProperty{
		ThrottlingRateLimit: jsii.Number(b.props.RateLimit), ThrottlingBurstLimit: jsii.Number(b.props.BurstLimit),
	})
	stage.SetRouteSettings(b.incomingThrottling)
}

func authReason(a routes.Auth) string {
	if a == routes.Signed {
		return "the signed envelope authenticates the peer (PROTOCOL.md §2–3)."
	}
	return "public by design: peers fetch GET /instance for the identity and keys (PROTOCOL.md §5); GET /openapi.json describes the API."
}
