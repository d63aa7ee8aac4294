package agents_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/fedgate/fedgate/shared/app/apptest"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/ids"
	"github.com/fedgate/fedgate/shared/store"
)

func answered(conn *federation.Connection, commandType, payload string, resp federation.Response) *store.MessageRecord {
	now := time.Now().UTC()
	return store.NewRecord(federation.Message{
		ID: ids.New(), WorkspaceID: conn.WorkspaceID, ConnectionID: conn.ID, MessageType: federation.TypeCommand,
		Direction: federation.Outbound, Status: federation.MsgCompleted, CommandType: commandType,
		Payload: json.RawMessage(payload), Response: &resp, CreatedAt: now, UpdatedAt: now,
	}, federation.EnvCommand, nil, "")
}

// The hub's agent records follow the answers to its agent.* commands and
// agent.status.changed events, never moving back to an earlier stage, and
// only for agents spawned on that connection.
func TestAgentRecords(t *testing.T) {
	ctx := context.Background()
	a := apptest.New(t)
	conn := apptest.Connection(t, a, "ws", federation.StatusActive, "")
	a.Agents.CommandAnswered(ctx, answered(conn, "agent.spawn", `{"taskId":"t1","agentType":"worker"}`,
		federation.Response{Success: true, Data: json.RawMessage(`{"agentId":"ag-1","status":"spawning"}`)}))
	event := func(payload string) *store.MessageRecord {
		now := time.Now().UTC()
		return store.NewRecord(federation.Message{ID: ids.New(), WorkspaceID: "ws", ConnectionID: conn.ID, MessageType: federation.TypeEvent,
			Direction: federation.Inbound, EventType: federation.AgentStatusChanged, Payload: json.RawMessage(payload), CreatedAt: now}, "", nil, "")
	}
	a.Agents.EventReceived(ctx, event(`{"agentId":"ag-1","status":"completed"}`))
	a.Agents.EventReceived(ctx, event(`{"agentId":"ag-1","status":"running"}`))     // late news
	a.Agents.EventReceived(ctx, event(`{"agentId":"ag-other","status":"running"}`)) // not ours
	page, err := a.Agents.List(ctx, "ws", conn.ID, 10, "")
	if err != nil || len(page.Items) != 1 {
		t.Fatalf("agents %+v %v", page.Items, err)
	}
	if ag := page.Items[0]; ag.AgentID != "ag-1" || ag.TaskID != "t1" || ag.AgentType != "worker" || ag.Status != "completed" {
		t.Fatalf("agent %+v", ag)
	}
	if _, err := a.Agents.Kill(ctx, "ws", conn.ID, "ag-unknown"); !federation.HasCode(err, federation.CodeNotFound) {
		t.Fatalf("kill an unknown agent: %v", err)
	}
	if _, err := a.Agents.Kill(ctx, "other-ws", conn.ID, "ag-1"); !federation.HasCode(err, federation.CodeNotFound) {
		t.Fatalf("kill through another workspace: %v", err)
	}
	msg, err := a.Agents.Kill(ctx, "ws", conn.ID, "ag-1")
	if err != nil || msg.CommandType != "agent.kill" || string(msg.Payload) != `{"agentId":"ag-1"}` {
		t.Fatalf("kill: %+v %v", msg, err)
	}
}
