// Package delivery sends signed messages to peers: the outbox that turns a
// stored message into a queued job without ever losing one, the deliverer
// that signs, posts and retries with backoff and a per-peer circuit breaker,
// and the sweeper that re-sends jobs a crash left behind.
package delivery
