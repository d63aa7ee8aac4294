// Package config reads a function's configuration. In AWS the CDK stack sets
// it as environment variables; the local runner builds the same struct.
package config
