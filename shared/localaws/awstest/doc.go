// Package awstest gives tests a moto_server endpoint and a unique resource
// prefix, so every test runs against the real AWS SDK and real (local)
// DynamoDB, SQS and KMS without sharing state with its neighbours. Under
// go test -short those tests skip (make unit).
package awstest
