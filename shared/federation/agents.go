package federation

import (
	"slices"
	"time"
)

// Agent types and statuses (PROTOCOL.md §7).
var (
	AgentTypes    = []string{"worker", "reviewer", "tester"}
	AgentStatuses = []string{"spawning", "running", "completed", "failed", "killed"}
)

// AgentStatusChanged is the event a spoke sends to the peer that spawned an
// agent when the orchestrator reports a new status.
const AgentStatusChanged = "agent.status.changed"

// agentStage orders agent statuses: responses and status events can arrive
// out of order, and an agent's record never moves back to an earlier stage
// (a late "running" must not overwrite "killed").
var agentStage = map[string]int{"spawning": 1, "running": 2, "completed": 3, "failed": 3, "killed": 3}

// AgentStatusesUpTo lists the statuses an agent may have for news of status
// to apply (those of its stage or earlier), sorted; nil for an unknown status.
func AgentStatusesUpTo(status string) []string {
	stage, ok := agentStage[status]
	if !ok {
		return nil
	}
	var out []string
	for st, sg := range agentStage {
		if sg <= stage {
			out = append(out, st)
		}
	}
	slices.Sort(out)
	return out
}

// AgentFinished reports whether an agent status is final.
func AgentFinished(status string) bool { return agentStage[status] == 3 }

// Agent is the hub's record of an agent running on a peer (PROTOCOL.md §7),
// kept from the COMMAND_RESPONSEs of agent.* commands and from
// agent.status.changed events.
type Agent struct {
	AgentID      string     `json:"agentId"`
	ConnectionID string     `json:"connectionId"`
	TaskID       string     `json:"taskId"`
	AgentType    string     `json:"agentType"`
	Status       string     `json:"status"`
	SpawnedAt    *time.Time `json:"spawnedAt,omitempty"`
	CompletedAt  *time.Time `json:"completedAt,omitempty"`
	Error        string     `json:"error,omitempty"`
	UpdatedAt    time.Time  `json:"updatedAt"`
}

// LocalAgent is an agent this instance's orchestrator runs for a peer.
type LocalAgent struct {
	WorkspaceID  string
	ConnectionID string
	AgentID      string
	Status       string
}
