package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/fedgate/fedgate/shared/federation"
)

// agentItem is a hub's agent record as stored.
type agentItem struct {
	AgentID      string     `dynamodbav:"agentId"`
	ConnectionID string     `dynamodbav:"connectionId"`
	TaskID       string     `dynamodbav:"taskId"`
	AgentType    string     `dynamodbav:"agentType"`
	Status       string     `dynamodbav:"status"`
	SpawnedAt    *time.Time `dynamodbav:"spawnedAt,omitempty"`
	CompletedAt  *time.Time `dynamodbav:"completedAt,omitempty"`
	Error        string     `dynamodbav:"error,omitempty"`
	UpdatedAt    time.Time  `dynamodbav:"updatedAt"`
}

// localAgentItem is an agent run here for a peer, as stored.
type localAgentItem struct {
	WorkspaceID  string `dynamodbav:"workspaceId"`
	ConnectionID string `dynamodbav:"connectionId"`
	AgentID      string `dynamodbav:"agentId"`
	Status       string `dynamodbav:"status"`
}

// Agents is the repository of the agents table: pk "WS#<ws>", sk
// "AGENT#<connection>#<agentId>" — a workspace only ever reads its own.
type Agents struct {
	db    *dynamodb.Client
	table string
}

func agentSK(connID, agentID string) string { return "AGENT#" + connID + "#" + agentID }

// Agents spawned here on a peer's behalf are kept under "LOCAL#…" (no user
// list shows them); while not finished they are on the watch index, which
// the agents-watch function polls.
func localSK(connID, agentID string) string { return "LOCAL#" + connID + "#" + agentID }

const watchKey = "WATCH"

// SaveLocal records the last known status of a local agent; finished agents
// leave the watch index.
func (r *Agents) SaveLocal(ctx context.Context, a federation.LocalAgent, finished bool, now time.Time) error {
	u := newUpdate().set("workspaceId", a.WorkspaceID).set("connectionId", a.ConnectionID).set("agentId", a.AgentID).
		set("status", a.Status).set("updatedAt", now)
	if finished {
		u.remove("watchKey").remove("watchAt")
	} else {
		u.set("watchKey", watchKey).set("watchAt", now.UTC().Format(time.RFC3339Nano))
	}
	expr, _, names, values := u.build()
	_, err := r.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &r.table, Key: key(wsPK(a.WorkspaceID), localSK(a.ConnectionID, a.AgentID)), UpdateExpression: &expr,
		ExpressionAttributeNames: names, ExpressionAttributeValues: values,
	})
	if err != nil {
		return fmt.Errorf("save local agent %s: %w", a.AgentID, err)
	}
	return nil
}

// GetLocal returns an agent run here for the peer on connID of workspace
// ws; ErrNotFound when that connection did not spawn it.
func (r *Agents) GetLocal(ctx context.Context, ws, connID, agentID string) (*federation.LocalAgent, error) {
	var a localAgentItem
	if err := getItem(ctx, r.db, r.table, key(wsPK(ws), localSK(connID, agentID)), &a, "local agent "+agentID, false); err != nil {
		return nil, err
	}
	local := federation.LocalAgent(a)
	return &local, nil
}

// Watched returns local agents that have not finished (up to limit).
func (r *Agents) Watched(ctx context.Context, limit int32) ([]federation.LocalAgent, error) {
	out, err := r.db.Query(ctx, &dynamodb.QueryInput{
		TableName: &r.table, IndexName: aws.String(IndexAgentsWatch), Limit: aws.Int32(limit),
		KeyConditionExpression:    aws.String("watchKey = :w"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":w": s(watchKey)},
	})
	if err != nil {
		return nil, fmt.Errorf("watched agents: %w", err)
	}
	var list []federation.LocalAgent
	for _, item := range out.Items {
		var a localAgentItem
		if err := attributevalue.UnmarshalMap(item, &a); err != nil {
			return nil, fmt.Errorf("decode local agent: %w", err)
		}
		list = append(list, federation.LocalAgent(a))
	}
	return list, nil
}

// Save merges what a response or event told about an agent into its record:
// empty fields leave the stored ones as they are, and news of an earlier
// stage than the stored one is ignored.
func (r *Agents) Save(ctx context.Context, ws string, a federation.Agent) error {
	u := newUpdate().set("agentId", a.AgentID).set("connectionId", a.ConnectionID).set("updatedAt", a.UpdatedAt)
	u.setIf(a.TaskID != "", "taskId", a.TaskID).setIf(a.AgentType != "", "agentType", a.AgentType)
	u.setIf(a.Status != "", "status", a.Status).setIf(a.SpawnedAt != nil, "spawnedAt", a.SpawnedAt)
	u.setIf(a.CompletedAt != nil, "completedAt", a.CompletedAt).set("error", a.Error)
	// The list index: newest first by when the hub first heard of the agent.
	u.set("listKey", wsPK(ws)).setFirst("listSort", msTime(a.UpdatedAt)+"#"+a.ConnectionID+"#"+a.AgentID)
	if allowed := federation.AgentStatusesUpTo(a.Status); allowed != nil {
		ph := make([]string, len(allowed))
		args := make([]any, len(allowed))
		for i, st := range allowed {
			ph[i], args[i] = "?", st
		}
		u.cond("(attribute_not_exists({status}) OR {status} IN ("+strings.Join(ph, ", ")+"))", args...)
	}
	expr, cond, names, values := u.build()
	_, err := r.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &r.table, Key: key(wsPK(ws), agentSK(a.ConnectionID, a.AgentID)), UpdateExpression: &expr,
		ConditionExpression: cond, ExpressionAttributeNames: names, ExpressionAttributeValues: values,
	})
	var stale *types.ConditionalCheckFailedException
	if errors.As(err, &stale) {
		return nil // older news than what the record holds
	}
	if err != nil {
		return fmt.Errorf("save agent %s: %w", a.AgentID, err)
	}
	return nil
}

// Get returns an agent of a workspace's connection; ErrNotFound otherwise.
func (r *Agents) Get(ctx context.Context, ws, connID, agentID string) (*federation.Agent, error) {
	var a agentItem
	if err := getItem(ctx, r.db, r.table, key(wsPK(ws), agentSK(connID, agentID)), &a, "agent "+agentID, false); err != nil {
		return nil, err
	}
	agent := federation.Agent(a)
	return &agent, nil
}

// List returns a workspace's agents newest first, of one connection if
// connID is set (filtered within the workspace's own index partition, so a
// page may hold fewer than limit and still go on).
func (r *Agents) List(ctx context.Context, ws, connID string, limit int32, cursor string) (Page[federation.Agent], error) {
	in := ofConnection(connID)
	in.TableName, in.IndexName = &r.table, aws.String(IndexAgentsByTime)
	return newestFirst(ctx, r.db, in, "listKey", wsPK(ws), limit, cursor, "agents",
		func(raw map[string]types.AttributeValue) (federation.Agent, error) {
			var a agentItem
			err := attributevalue.UnmarshalMap(raw, &a)
			return federation.Agent(a), err
		})
}
