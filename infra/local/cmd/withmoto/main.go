// Command withmoto runs a command with a moto_server started for it: it
// starts the server on a free loopback port, waits until it answers, runs the
// command with AWS_ENDPOINT_URL and dummy credentials set, then stops the
// server and exits with the command's status. `make test` uses it.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/fedgate/fedgate/shared/localaws"
)

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: withmoto [--] command [args...]")
		os.Exit(2)
	}
	os.Exit(run(args))
}

func run(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logPath := os.Getenv("MOTO_LOG")
	if logPath == "" {
		logPath = os.DevNull
	}
	srv, err := localaws.Start(ctx, logPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "withmoto:", err)
		return 1
	}
	defer srv.Stop()
	fmt.Fprintln(os.Stderr, "withmoto: moto_server", localaws.MotoVersion, "at", srv.URL)
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(),
		"AWS_ENDPOINT_URL="+srv.URL,
		"AWS_REGION="+localaws.Region,
		"AWS_ACCESS_KEY_ID=local",
		"AWS_SECRET_ACCESS_KEY=local",
		"AWS_EC2_METADATA_DISABLED=true",
	)
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "withmoto:", err)
		return 1
	}
	return 0
}
