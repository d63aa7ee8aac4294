// Package cli is the `fedgate` command for the people who operate an
// instance: every user-API call of PROTOCOL.md as a subcommand with a table
// (or --json) answer, PROTOCOL errors with their code and request id, exit
// codes scripts can use, a dev token helper and the conformance suite
// (infra/conformance). infra/cmd/fedgate is its main.
package cli
