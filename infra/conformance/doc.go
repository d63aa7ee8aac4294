// Package conformance checks, from the outside, that an instance speaks the
// federation protocol (PROTOCOL.md), whatever its implementation. It starts a
// short-lived peer with its own Ed25519 key and HTTP listener, joins the
// target with an invite made with a user token, and runs the protocol's
// checks section by section. The checks are written from PROTOCOL.md, not
// from fedgate's handlers; signing and canonicalization go through
// shared/signing, the same code fedgate signs with, so a peer that passes
// interoperates with fedgate.
package conformance
