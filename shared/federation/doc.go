// Package federation is the one home of fedgate's protocol rules
// (PROTOCOL.md): the domain types (connections, messages, subscriptions,
// agents, envelopes), the connection state machine, the one rule for command
// and event type names, the credential deny-list, the retry step, peer health
// and its circuit breaker, agent stages, the check of a signed answer, and
// the protocol's error codes. Plain values and functions; no I/O.
package federation
