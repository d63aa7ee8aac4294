package agents

import (
	"log/slog"
	"time"

	"github.com/fedgate/fedgate/shared/events"
	"github.com/fedgate/fedgate/shared/messaging"
	"github.com/fedgate/fedgate/shared/orchestrator"
	"github.com/fedgate/fedgate/shared/store"
)

// Deps is what the service needs.
type Deps struct {
	Agents      *store.Agents
	Connections *store.Connections
	Commands    *messaging.Service
	Events      *events.Service
	// Orchestrator runs agents on this instance (a spoke); nil on a hub.
	Orchestrator *orchestrator.Client
	Log          *slog.Logger
	Now          func() time.Time
}

// Service runs the agent use cases.
type Service struct {
	agents       *store.Agents
	connections  *store.Connections
	commands     *messaging.Service
	events       *events.Service
	orchestrator *orchestrator.Client
	log          *slog.Logger
	now          func() time.Time
}

// New returns the service.
func New(d Deps) *Service {
	if d.Now == nil {
		d.Now = time.Now
	}
	return &Service{
		agents:       d.Agents,
		connections:  d.Connections,
		commands:     d.Commands,
		events:       d.Events,
		orchestrator: d.Orchestrator,
		log:          d.Log,
		now:          d.Now,
	}
}

// status is the data of agent responses and of agent.status.changed events.
type status struct {
	AgentID     string     `json:"agentId"`
	Status      string     `json:"status"`
	SpawnedAt   *time.Time `json:"spawnedAt,omitempty"`
	CompletedAt *time.Time `json:"completedAt,omitempty"`
	Error       string     `json:"error,omitempty"`
}
