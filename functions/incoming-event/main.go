// Command incoming-event is the Lambda function for route "incoming-event" (see shared/routes).
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/fedgate/fedgate/shared/app"
	"github.com/fedgate/fedgate/shared/handlers"
)

func main() {
	lambda.Start(handlers.IncomingEvent(app.MustFromEnv()))
}
