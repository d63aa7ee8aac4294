package localaws

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Region is the region every local resource lives in; moto accepts any.
const Region = "us-east-1"

// Config returns an SDK configuration that talks to the server at endpoint
// with static dummy credentials, never touching instance metadata.
func Config(endpoint string) aws.Config {
	return aws.Config{
		Region:       Region,
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
		// moto answers quickly or not at all; the SDK's default retries only
		// slow a failing test down.
		RetryMaxAttempts: 2,
	}
}
