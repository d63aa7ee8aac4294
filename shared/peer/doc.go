// Package peer is the HTTP client fedgate uses to reach other instances:
// fixed timeouts, no redirects, size-limited answers and, outside development,
// only https to public addresses (checked when the URL is accepted and again
// on every dial, so DNS rebinding cannot reach an internal address).
package peer
