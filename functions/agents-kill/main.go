// Command agents-kill is the Lambda function for route "agents-kill" (see shared/routes).
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/fedgate/fedgate/shared/app"
	"github.com/fedgate/fedgate/shared/handlers"
)

func main() {
	lambda.Start(handlers.AgentsKill(app.MustFromEnv()))
}
