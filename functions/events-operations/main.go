// Command events-operations is the Lambda function for route "events-operations" (see shared/routes).
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/fedgate/fedgate/shared/app"
	"github.com/fedgate/fedgate/shared/handlers"
)

func main() {
	lambda.Start(handlers.EventsOperations(app.MustFromEnv()))
}
