package config

import (
	"strings"
	"testing"
	"time"

	"github.com/fedgate/fedgate/shared/queue"
	"github.com/fedgate/fedgate/shared/signing"
	"github.com/fedgate/fedgate/shared/store"
)

func setAll(t *testing.T) {
	t.Helper()
	for _, tb := range store.Tables {
		t.Setenv(store.EnvVar(tb.Name), "t-"+tb.Name)
	}
	for _, q := range queue.Queues {
		t.Setenv(queue.URLEnvVar(q.Name), "https://sqs/"+q.Name)
		t.Setenv(queue.URLEnvVar(q.DLQName()), "https://sqs/"+q.DLQName())
	}
	t.Setenv("KMS_KEY_ID", "arn:aws:kms:eu-west-1:1:key/x")
	t.Setenv("INSTANCE_URL", "https://fed.example.org")
}

func TestFromEnv(t *testing.T) {
	setAll(t)
	t.Setenv("SIGNING_ALG", "EdDSA")
	t.Setenv("COMMAND_TYPES", " agent.spawn , task.create ,")
	t.Setenv("MESSAGE_RETENTION_DAYS", "7")
	t.Setenv("COMMAND_TIMEOUT_SECONDS", "60")
	t.Setenv("WORKSPACE_CLAIM", "tenant")
	c, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if c.Identity.Alg != signing.EdDSA || strings.Join(c.Identity.CommandTypes, ",") != "agent.spawn,task.create" ||
		c.Retention != 7*24*time.Hour || c.CommandTimeout != time.Minute || c.WorkspaceClaim != "tenant" ||
		c.Tables[store.MessagesTable] != "t-messages" || c.Queues["delivery-dlq"] != "https://sqs/delivery-dlq" ||
		c.DefaultInboundWorkspace != "default" || c.Retry.MaxAttempts != 20 || c.Identity.Name != "fedgate" {
		t.Fatalf("config %+v", c)
	}
}

func TestFromEnvRejects(t *testing.T) {
	tests := map[string]func(t *testing.T){
		"missing table":      func(t *testing.T) { t.Setenv(store.EnvVar(store.MessagesTable), "") },
		"missing queue":      func(t *testing.T) { t.Setenv(queue.URLEnvVar("fanout-dlq"), "") },
		"missing KMS key":    func(t *testing.T) { t.Setenv("KMS_KEY_ID", "") },
		"http in production": func(t *testing.T) { t.Setenv("INSTANCE_URL", "http://fed.example.org") },
		"URL with a path":    func(t *testing.T) { t.Setenv("INSTANCE_URL", "https://fed.example.org/x") },
		"unknown algorithm":  func(t *testing.T) { t.Setenv("SIGNING_ALG", "HS256") },
		"bad retention":      func(t *testing.T) { t.Setenv("MESSAGE_RETENTION_DAYS", "soon") },
		"bad timeout":        func(t *testing.T) { t.Setenv("COMMAND_TIMEOUT_SECONDS", "-5") },
	}
	for name, breakIt := range tests {
		t.Run(name, func(t *testing.T) {
			setAll(t)
			breakIt(t)
			if _, err := FromEnv(); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	setAll(t)
	t.Setenv("INSTANCE_URL", "http://127.0.0.1:8081")
	t.Setenv("FEDGATE_DEV_MODE", "true")
	if _, err := FromEnv(); err != nil {
		t.Fatalf("dev mode with http: %v", err)
	}
}
