// Package localaws runs and connects to the local AWS-compatible server that
// tests and the local runner use instead of AWS: moto_server (moto 5.2.1), one
// process serving DynamoDB, SQS and KMS on one loopback port.
package localaws
