package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Agent is the hub's record of an agent running on a peer (PROTOCOL.md §7),
// kept from the COMMAND_RESPONSEs of agent.* commands.
type Agent struct {
	AgentID      string     `json:"agentId" dynamodbav:"agentId"`
	ConnectionID string     `json:"connectionId" dynamodbav:"connectionId"`
	TaskID       string     `json:"taskId" dynamodbav:"taskId"`
	AgentType    string     `json:"agentType" dynamodbav:"agentType"`
	Status       string     `json:"status" dynamodbav:"status"`
	SpawnedAt    *time.Time `json:"spawnedAt,omitempty" dynamodbav:"spawnedAt,omitempty"`
	CompletedAt  *time.Time `json:"completedAt,omitempty" dynamodbav:"completedAt,omitempty"`
	Error        string     `json:"error,omitempty" dynamodbav:"error,omitempty"`
	UpdatedAt    time.Time  `json:"updatedAt" dynamodbav:"updatedAt"`
}

// Agents is the repository of the agents table: pk "WS#<ws>", sk
// "AGENT#<connection>#<agentId>" — a workspace only ever reads its own.
type Agents struct {
	db    *dynamodb.Client
	table string
}

// NewAgents returns the repository for the physical table name.
func NewAgents(db *dynamodb.Client, table string) *Agents { return &Agents{db: db, table: table} }

func agentSK(connID, agentID string) string { return "AGENT#" + connID + "#" + agentID }

// Agents spawned here on a peer's behalf are kept under "LOCAL#…" (no user
// list shows them); while not finished they are on the watch index, which
// the agents-watch function polls.
func localSK(connID, agentID string) string { return "LOCAL#" + connID + "#" + agentID }

const watchKey = "WATCH"

// LocalAgent is an agent this instance's orchestrator runs for a peer.
type LocalAgent struct {
	WorkspaceID  string `dynamodbav:"workspaceId"`
	ConnectionID string `dynamodbav:"connectionId"`
	AgentID      string `dynamodbav:"agentId"`
	Status       string `dynamodbav:"status"`
}

// SaveLocal records the last known status of a local agent; finished agents
// leave the watch index.
func (r *Agents) SaveLocal(ctx context.Context, a LocalAgent, finished bool, now time.Time) error {
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

// Watched returns local agents that have not finished (up to limit).
func (r *Agents) Watched(ctx context.Context, limit int32) ([]LocalAgent, error) {
	out, err := r.db.Query(ctx, &dynamodb.QueryInput{
		TableName: &r.table, IndexName: aws.String(IndexAgentsWatch), Limit: aws.Int32(limit),
		KeyConditionExpression:    aws.String("watchKey = :w"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":w": s(watchKey)},
	})
	if err != nil {
		return nil, fmt.Errorf("watched agents: %w", err)
	}
	var list []LocalAgent
	for _, item := range out.Items {
		var a LocalAgent
		if err := attributevalue.UnmarshalMap(item, &a); err != nil {
			return nil, fmt.Errorf("decode local agent: %w", err)
		}
		list = append(list, a)
	}
	return list, nil
}

// agentStage orders agent statuses: responses and status events can arrive
// out of order, and an agent's record never moves back to an earlier stage
// (a late "running" must not overwrite "killed").
var agentStage = map[string]int{"spawning": 1, "running": 2, "completed": 3, "failed": 3, "killed": 3}

// Save merges what a response or event told about an agent into its record:
// empty fields leave the stored ones as they are, and news of an earlier
// stage than the stored one is ignored.
func (r *Agents) Save(ctx context.Context, ws string, a Agent) error {
	u := newUpdate().set("agentId", a.AgentID).set("connectionId", a.ConnectionID).set("updatedAt", a.UpdatedAt)
	u.setIf(a.TaskID != "", "taskId", a.TaskID).setIf(a.AgentType != "", "agentType", a.AgentType)
	u.setIf(a.Status != "", "status", a.Status).setIf(a.SpawnedAt != nil, "spawnedAt", a.SpawnedAt)
	u.setIf(a.CompletedAt != nil, "completedAt", a.CompletedAt).set("error", a.Error)
	if stage, ok := agentStage[a.Status]; ok {
		var allowed []string
		for st, sg := range agentStage {
			if sg <= stage {
				allowed = append(allowed, st)
			}
		}
		sort.Strings(allowed)
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
func (r *Agents) Get(ctx context.Context, ws, connID, agentID string) (*Agent, error) {
	var a Agent
	if err := getItem(ctx, r.db, r.table, key(wsPK(ws), agentSK(connID, agentID)), &a, "agent "+agentID, false); err != nil {
		return nil, err
	}
	return &a, nil
}

// List returns a workspace's agents, of one connection if connID is set.
func (r *Agents) List(ctx context.Context, ws, connID string, limit int32, cursor string) (Page[Agent], error) {
	start, err := decodeCursor(cursor, "pk", wsPK(ws))
	if err != nil {
		return Page[Agent]{}, err
	}
	prefix := "AGENT#"
	if connID != "" {
		prefix += connID + "#"
	}
	out, err := r.db.Query(ctx, &dynamodb.QueryInput{
		TableName: &r.table, Limit: aws.Int32(limit), ExclusiveStartKey: start, ConsistentRead: aws.Bool(true),
		KeyConditionExpression:    aws.String("pk = :p AND begins_with(sk, :s)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": s(wsPK(ws)), ":s": s(prefix)},
	})
	if err != nil {
		return Page[Agent]{}, fmt.Errorf("list agents: %w", err)
	}
	page := Page[Agent]{Items: []Agent{}, NextCursor: encodeCursor(out.LastEvaluatedKey)}
	for _, item := range out.Items {
		var a Agent
		if err := attributevalue.UnmarshalMap(item, &a); err != nil {
			return page, fmt.Errorf("decode agent: %w", err)
		}
		page.Items = append(page.Items, a)
	}
	return page, nil
}
