// Package incoming verifies signed envelopes arriving at /incoming/*, in the
// order of PROTOCOL.md §3, and keeps the first answer to each envelope so
// that a retried delivery gets exactly the same answer. Its failures are
// *federation.Error with the PROTOCOL code; the HTTP layer maps them.
package incoming
