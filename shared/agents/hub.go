package agents

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/store"
)

// SpawnInput is a user's request to spawn an agent on a peer.
type SpawnInput struct {
	ConnectionID string          `json:"connectionId"`
	TaskID       string          `json:"taskId"`
	AgentType    string          `json:"agentType"`
	Context      json.RawMessage `json:"context"`
	Options      json.RawMessage `json:"options,omitempty"`
}

// Spawn sends agent.spawn to a peer and returns the PENDING command; the
// agent appears in List once the peer answers. The first spawn on a
// connection also subscribes to agent.status.changed there, so status
// reaches the hub without polling.
func (s *Service) Spawn(ctx context.Context, ws string, in SpawnInput) (*federation.Message, error) {
	payload, _ := json.Marshal(map[string]any{"taskId": in.TaskID, "agentType": in.AgentType, "context": in.Context, "options": optional(in.Options)})
	if in.ConnectionID == "" {
		return nil, federation.Invalidf("connectionId is required")
	}
	if _, err := federation.ParseSpawn(payload); err != nil {
		return nil, err
	}
	conn, err := s.connections.GetActive(ctx, ws, in.ConnectionID)
	if err != nil {
		return nil, err
	}
	if err := s.events.Follow(ctx, conn, federation.AgentStatusChanged); err != nil {
		return nil, err
	}
	return s.send(ctx, conn, federation.CommandAgentSpawn, payload)
}

func optional(raw json.RawMessage) any {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	return raw
}

func (s *Service) send(ctx context.Context, conn *federation.Connection, commandType string, payload json.RawMessage) (*federation.Message, error) {
	rec, err := s.commands.SendCommand(ctx, conn, commandType, payload)
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, commandType+" sent", "messageId", rec.ID, "connectionId", conn.ID)
	return &rec.Message, nil
}

// List returns the agents this workspace knows from responses, without
// asking the peers; of one connection if connID is set.
func (s *Service) List(ctx context.Context, ws, connID string, limit int32, cursor string) (store.Page[federation.Agent], error) {
	return s.agents.List(ctx, ws, connID, limit, cursor)
}

// Status sends agent.status about an agent the workspace knows on the
// connection; its record updates when the peer answers.
func (s *Service) Status(ctx context.Context, ws, connID, agentID string) (*federation.Message, error) {
	return s.ask(ctx, ws, connID, agentID, federation.CommandAgentStatus)
}

// Kill sends agent.kill about an agent the workspace knows on the connection.
func (s *Service) Kill(ctx context.Context, ws, connID, agentID string) (*federation.Message, error) {
	return s.ask(ctx, ws, connID, agentID, federation.CommandAgentKill)
}

func (s *Service) ask(ctx context.Context, ws, connID, agentID, commandType string) (*federation.Message, error) {
	if connID == "" {
		return nil, federation.Invalidf("connectionId is required")
	}
	agent, err := s.agents.Get(ctx, ws, connID, agentID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, federation.NotFoundf("agent not found")
	}
	if err != nil {
		return nil, err
	}
	conn, err := s.connections.GetActive(ctx, ws, agent.ConnectionID)
	if err != nil {
		return nil, err
	}
	payload, _ := json.Marshal(federation.AgentPayload{AgentID: agent.AgentID})
	return s.send(ctx, conn, commandType, payload)
}

// CommandAnswered updates the agent record from a finished agent.* command
// of ours (messaging tells it of every answered command).
func (s *Service) CommandAnswered(ctx context.Context, rec *store.MessageRecord) {
	if err := s.record(ctx, rec); err != nil {
		s.log.WarnContext(ctx, "agent record not updated", "messageId", rec.ID, "error", err.Error())
	}
}

func (s *Service) record(ctx context.Context, rec *store.MessageRecord) error {
	if !strings.HasPrefix(rec.CommandType, "agent.") || rec.Response == nil {
		return nil
	}
	var data status
	_ = json.Unmarshal(rec.Response.Data, &data)
	agent := federation.Agent{
		AgentID: data.AgentID, ConnectionID: rec.ConnectionID, Status: data.Status, SpawnedAt: data.SpawnedAt,
		CompletedAt: data.CompletedAt, Error: data.Error, UpdatedAt: s.now().UTC(),
	}
	// What we asked: our own payload, sent valid.
	var askedID string
	if rec.CommandType == federation.CommandAgentSpawn {
		p, _ := federation.ParseSpawn(rec.Payload)
		agent.TaskID, agent.AgentType = p.TaskID, p.AgentType
	} else {
		p, _ := federation.ParseAgent(rec.Payload)
		askedID = p.AgentID
	}
	if !rec.Response.Success {
		if askedID == "" {
			return nil // a failed spawn has no agent
		}
		agent.AgentID, agent.Status, agent.Error = askedID, "", rec.Response.Error
		if _, err := s.agents.Get(ctx, rec.WorkspaceID, rec.ConnectionID, askedID); errors.Is(err, store.ErrNotFound) {
			return nil
		}
	}
	if agent.AgentID == "" {
		return errors.New("agent response without agentId")
	}
	return s.agents.Save(ctx, rec.WorkspaceID, agent)
}

// EventReceived updates the record of an agent this workspace spawned on
// the event's connection from an agent.status.changed event.
func (s *Service) EventReceived(ctx context.Context, rec *store.MessageRecord) {
	if rec.EventType != federation.AgentStatusChanged {
		return
	}
	if err := s.statusChanged(ctx, rec); err != nil {
		s.log.WarnContext(ctx, "agent record not updated from event", "messageId", rec.ID, "error", err.Error())
	}
}

func (s *Service) statusChanged(ctx context.Context, rec *store.MessageRecord) error {
	var st status
	if err := json.Unmarshal(rec.Payload, &st); err != nil || st.AgentID == "" {
		return errors.New("agent.status.changed without agentId")
	}
	if _, err := s.agents.Get(ctx, rec.WorkspaceID, rec.ConnectionID, st.AgentID); err != nil {
		return nil // not an agent this workspace spawned on that connection
	}
	return s.agents.Save(ctx, rec.WorkspaceID, federation.Agent{
		AgentID: st.AgentID, ConnectionID: rec.ConnectionID, Status: st.Status, SpawnedAt: st.SpawnedAt,
		CompletedAt: st.CompletedAt, Error: st.Error, UpdatedAt: s.now().UTC(),
	})
}
