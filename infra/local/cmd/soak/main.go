// Command soak is `make soak`: the fault-injection run of infra/local/soak
// on this machine with moto_server, printing one line and exiting non-zero
// when anything was lost, duplicated or left pending.
package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/fedgate/fedgate/infra/local/devjwt"
	"github.com/fedgate/fedgate/infra/local/soak"
	"github.com/fedgate/fedgate/shared/localaws"
)

func main() {
	events := flag.Int("events", 1000, "events to publish (EVENTS in make soak)")
	crash := flag.String("crash", soak.DefaultCrashPoints, "crash points and their chances")
	timeout := flag.Duration("timeout", 45*time.Minute, "how long to wait for everything to arrive")
	logFile := flag.String("log", "build/soak.log", "where the instances' logs go")
	flag.Parse()
	if err := run(*events, *crash, *timeout, *logFile); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

func run(events int, crash string, timeout time.Duration, logFile string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := os.MkdirAll(filepath.Dir(logFile), 0o755); err != nil {
		return err
	}
	logs, err := os.Create(logFile)
	if err != nil {
		return err
	}
	defer logs.Close()
	moto, err := localaws.Start(ctx, filepath.Join(filepath.Dir(logFile), "soak-moto.log"))
	if err != nil {
		return err
	}
	defer moto.Stop()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	res, err := soak.Run(ctx, soak.Options{
		Endpoint: moto.URL, Events: events, Auth: devjwt.New(key), CrashPoints: crash, Timeout: timeout,
		Log: newLogger(logs), Progress: os.Stderr,
	})
	if err != nil {
		return err
	}
	fmt.Println(res.Line())
	if !res.OK() {
		return fmt.Errorf("events lost, duplicated or left pending (logs: %s)", logFile)
	}
	return nil
}

func newLogger(w *os.File) *slog.Logger { return slog.New(slog.NewJSONHandler(w, nil)) }
