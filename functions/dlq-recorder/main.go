// Command dlq-recorder is the Lambda function for route "dlq-recorder" (see shared/routes).
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/fedgate/fedgate/shared/app"
	"github.com/fedgate/fedgate/shared/handlers"
)

func main() {
	lambda.Start(handlers.DLQRecorder(app.MustFromEnv()))
}
