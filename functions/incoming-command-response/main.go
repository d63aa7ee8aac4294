// Command incoming-command-response is the Lambda function for route "incoming-command-response" (see shared/routes).
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/fedgate/fedgate/shared/app"
	"github.com/fedgate/fedgate/shared/handlers"
)

func main() {
	lambda.Start(handlers.IncomingCommandResponse(app.MustFromEnv()))
}
