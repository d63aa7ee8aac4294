// Package apptest builds a complete App for handler tests: fresh tables under
// a unique prefix and a fresh KMS key in moto_server, reached through the real
// AWS SDK.
package apptest
