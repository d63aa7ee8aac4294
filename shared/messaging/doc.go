// Package messaging holds the QUERY and COMMAND use cases (PROTOCOL.md §6–7):
// sending a query and verifying its signed answer, answering an incoming
// one; sending a command, accepting an incoming one for the dispatcher,
// dispatching it to a built-in or the local platform and answering with a
// COMMAND_RESPONSE, receiving the response to one of ours, and timing out
// commands that got none. Other capabilities add their built-in queries and
// commands (event.subscribe, agent.spawn, …) with Register*.
package messaging
