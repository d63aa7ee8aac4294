// Package orchestrator simulates the local orchestrator's HTTP API for local
// runs and tests (an external system fedgate does not own): agents move
// spawning → running → completed on a timer, kill → killed, a concurrency
// limit answers 429 with Retry-After, and every call needs the X-API-Key.
package orchestrator
