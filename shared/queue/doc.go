// Package queue defines fedgate's SQS queues and the jobs they carry, and
// sends jobs (with delays and in batches). The CDK stack and the local runner
// create the queues from Queues.
package queue
