// Package connections holds the connection use cases (PROTOCOL.md §5): a
// user initiating a connection (fetch the peer's identity, store OUTBOUND
// PENDING, send a signed CONNECT), invites, accept/reject/disconnect with the
// notice to the peer written in the same transaction, local suspend/resume,
// and the peer's side of the handshake: an incoming CONNECT (verified with the
// key it carries, which the claimed instance must serve), CONNECT_RESPONSE and
// DISCONNECT.
package connections
