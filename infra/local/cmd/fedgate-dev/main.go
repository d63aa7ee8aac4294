// Command fedgate-dev is `make dev`: moto_server plus two fedgate instances,
// hub on :8081 and spoke on :8082, with state kept under .local/.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/fedgate/fedgate/infra/local"
	"github.com/fedgate/fedgate/infra/local/devjwt"
	"github.com/fedgate/fedgate/infra/local/orchestrator"
	"github.com/fedgate/fedgate/shared/app"
	"github.com/fedgate/fedgate/shared/config"
	"github.com/fedgate/fedgate/shared/localaws"
)

// The simulator the spoke's dispatcher sends agent.* commands to.
const (
	orchestratorPort   = 8090
	devOrchestratorKey = "dev-orchestrator-key"
)

func main() {
	dir := flag.String("state", ".local", "directory for state kept across restarts")
	hubPort := flag.Int("hub-port", 8081, "hub port")
	spokePort := flag.Int("spoke-port", 8082, "spoke port")
	flag.Parse()
	if err := run(*dir, *hubPort, *spokePort); err != nil {
		fmt.Fprintln(os.Stderr, "fedgate-dev:", err)
		os.Exit(1)
	}
}

func run(dir string, hubPort, spokePort int) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	moto, err := localaws.Start(ctx, filepath.Join(dir, "moto.log"))
	if err != nil {
		return err
	}
	defer moto.Stop()
	auth, err := devjwt.LoadOrCreate(filepath.Join(dir, "dev-jwt-key.pem"))
	if err != nil {
		return err
	}
	log := app.NewLogger(os.Stdout)
	// The spoke's orchestrator: a simulator of its HTTP API.
	sim := &orchestrator.Simulator{APIKey: devOrchestratorKey, MaxConcurrent: 5, SpawnDelay: 5 * time.Second, RunTime: 2 * time.Minute}
	simListener, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", orchestratorPort))
	if err != nil {
		return fmt.Errorf("orchestrator simulator: %w", err)
	}
	go func() { _ = http.Serve(simListener, sim) }()
	defer simListener.Close()
	cluster, err := local.Start(ctx, local.Options{
		Endpoint: moto.URL,
		StateDir: filepath.Join(dir, "state"),
		Instances: []local.InstanceSpec{
			{Name: "hub", Port: hubPort},
			{Name: "spoke", Port: spokePort},
		},
		Auth:   auth,
		Logger: log,
		Configure: func(name string, c *config.Config) {
			if name == "spoke" {
				c.OrchestratorURL = fmt.Sprintf("http://127.0.0.1:%d", orchestratorPort)
				c.OrchestratorAPIKey = devOrchestratorKey
			}
		},
	})
	if err != nil {
		return err
	}
	for _, name := range []string{"hub", "spoke"} {
		inst := cluster.Instances[name]
		doc, err := inst.App.Identity.Document(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "%-5s %s  instanceId=%s keyId=%s\n", name, inst.URL, doc.InstanceID, doc.KeyID)
	}
	fmt.Fprintf(os.Stderr, `
moto_server: %s (log: %s/moto.log)   state: %s/state   orchestrator simulator (spoke): http://127.0.0.1:8090
Try (make cli first; more in the README, Running locally):
  build/fedgate --url http://127.0.0.1:8081 instance show
  TOKEN=$(build/fedgate dev token --workspace ws-1 --scope fedgate:instance)
  curl -s -X PATCH -H "Authorization: Bearer $TOKEN" -d '{"name":"my hub"}' localhost:8081/api/v1/federation/instance
Ctrl-C stops everything (state is saved).
`, moto.URL, dir, dir)
	<-ctx.Done()
	slog.Info("stopping")
	cluster.Stop(context.Background())
	return nil
}
