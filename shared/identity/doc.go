// Package identity owns this instance's identity: its id, name, capabilities
// and signing keys. The identity is created on first start; private keys are
// stored sealed with KMS and decrypted at most once per cold start (and again
// only after a rotation).
package identity
