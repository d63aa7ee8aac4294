// Package orchestrator is the dispatcher's client of the local orchestrator's
// HTTP API (POST /agents/spawn, GET /agents/{id}/status, POST
// /agents/{id}/kill), authenticated with an X-API-Key header. The agent.*
// commands built on it live in shared/agents.
package orchestrator
