// Package local runs fedgate on one machine with the same topology as in AWS:
// per instance an HTTP server standing in for API Gateway (route matching,
// JWT validation, payload v2 events) that calls the very handlers the Lambda
// functions run, SQS pollers standing in for event source mappings, and
// tables and keys in moto_server.
package local
