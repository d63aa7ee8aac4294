// Package httpapi is the HTTP plumbing every HTTP function shares: API
// Gateway v2 requests in, JSON responses out, the error body of PROTOCOL.md
// §1 with the status of each error code, auth claims, body limits, strict
// decoding, validation and structured request logs.
package httpapi
