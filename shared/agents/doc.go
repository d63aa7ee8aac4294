// Package agents holds agents via federation (PROTOCOL.md §7). On a hub:
// spawning, asking about and killing agents on a peer with agent.* COMMANDs,
// and the agent records kept from their responses and from
// agent.status.changed events. On a spoke: the agent.* built-in commands the
// dispatcher runs against the local orchestrator, and the watcher that tells
// the spawning peer about status changes.
package agents
