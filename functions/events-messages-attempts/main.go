// Command events-messages-attempts is the Lambda function for route "events-messages-attempts" (see shared/routes).
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/fedgate/fedgate/shared/app"
	"github.com/fedgate/fedgate/shared/handlers"
)

func main() {
	lambda.Start(handlers.EventsMessagesAttempts(app.MustFromEnv()))
}
