// Package openapi generates the OpenAPI 3.1 description of fedgate's HTTP API
// from the route table (shared/routes) and the Go types of every request and
// answer (JSON Schema by reflection over their json tags), so a changed type
// or route changes the document. Operations (table.go) says, per route, which
// type it decodes and which it answers with which status; a route without an
// entry fails a test. The document is served at GET /openapi.json and written
// by `make openapi`; the end-to-end tests validate every answer against it.
package openapi
