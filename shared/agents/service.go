package agents

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/orchestrator"
	"github.com/fedgate/fedgate/shared/store"
)

// Commands sends COMMANDs to peers.
type Commands interface {
	SendCommand(ctx context.Context, conn *federation.Connection, commandType string, payload json.RawMessage) (*store.MessageRecord, error)
}

// Events subscribes to a peer's events and sends events to one peer.
type Events interface {
	Follow(ctx context.Context, conn *federation.Connection, eventType string) error
	SendTo(ctx context.Context, ws, connID, eventType string, payload json.RawMessage) (bool, error)
}

// Deps is what the service needs.
type Deps struct {
	Agents      *store.Agents
	Connections *store.Connections
	Commands    Commands
	Events      Events
	// Orchestrator runs agents on this instance (a spoke); nil on a hub.
	Orchestrator *orchestrator.Client
	Log          *slog.Logger
	Now          func() time.Time
}

// Service runs the agent use cases.
type Service struct{ Deps }

// New returns the service.
func New(d Deps) *Service {
	if d.Now == nil {
		d.Now = time.Now
	}
	return &Service{Deps: d}
}

// status is the data of agent responses and of agent.status.changed events.
type status struct {
	AgentID     string     `json:"agentId"`
	Status      string     `json:"status"`
	SpawnedAt   *time.Time `json:"spawnedAt,omitempty"`
	CompletedAt *time.Time `json:"completedAt,omitempty"`
	Error       string     `json:"error,omitempty"`
}
