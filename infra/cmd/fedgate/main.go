// Command fedgate is the operators' command line for a fedgate instance and
// the protocol's conformance suite (infra/cli). Install it with
// `go install github.com/fedgate/fedgate/infra/cmd/fedgate@latest` or build
// it with `make cli` (build/fedgate).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/fedgate/fedgate/infra/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.OSEnv())
	stop()
	os.Exit(code)
}
