package config

import (
	"fmt"
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

// Every tunable setting reaches its field, and an unset one keeps its
// default (the README's configuration table).
func TestFromEnvSettings(t *testing.T) {
	tests := []struct {
		env   map[string]string
		check func(c Config) bool
	}{
		{map[string]string{}, func(c Config) bool {
			return c.PeerRate.Rate == 50 && c.PeerRate.Burst == 100 && c.WorkspaceRate.Rate == 50 && c.WorkspaceRate.Burst == 200 &&
				c.PeerInFlight == 20 && c.MaxWait == 25*time.Second && c.AckDeadline == time.Hour &&
				len(c.PeerPorts) == 1 && c.PeerPorts[0] == 443 && c.SubscriptionLimit == 100 && c.PendingPerOrigin == 10 &&
				c.PendingTotal == 1000 && c.Retry.BaseDelay == 5*time.Second && c.Retry.MaxAge == 24*time.Hour
		}},
		{map[string]string{"PEER_RATE_LIMIT": "2.5", "PEER_BURST_LIMIT": "7"}, func(c Config) bool {
			return c.PeerRate.Rate == 2.5 && c.PeerRate.Burst == 7 && c.WorkspaceRate.Rate == 50
		}},
		{map[string]string{"WORKSPACE_RATE_LIMIT": "10", "WORKSPACE_BURST_LIMIT": "30"}, func(c Config) bool {
			return c.WorkspaceRate.Rate == 10 && c.WorkspaceRate.Burst == 30 && c.PeerRate.Rate == 50
		}},
		{map[string]string{"PEER_IN_FLIGHT": "3", "MAX_WAIT_SECONDS": "10"}, func(c Config) bool {
			return c.PeerInFlight == 3 && c.MaxWait == 10*time.Second
		}},
		{map[string]string{"RETRY_BASE_SECONDS": "1", "RETRY_MAX_DELAY_SECONDS": "60", "RETRY_MAX_ATTEMPTS": "4", "RETRY_MAX_AGE_SECONDS": "600"}, func(c Config) bool {
			return c.Retry.BaseDelay == time.Second && c.Retry.MaxDelay == time.Minute && c.Retry.MaxAttempts == 4 && c.Retry.MaxAge == 10*time.Minute
		}},
		{map[string]string{"ACK_DEADLINE_SECONDS": "120", "PEER_PORTS": "443,8443", "SUBSCRIPTION_LIMIT": "5"}, func(c Config) bool {
			return c.AckDeadline == 2*time.Minute && len(c.PeerPorts) == 2 && c.PeerPorts[1] == 8443 && c.SubscriptionLimit == 5
		}},
		{map[string]string{"QUERY_BACKEND_URL": "https://platform.internal/q", "COMMAND_BACKEND_URL": "https://platform.internal/c"}, func(c Config) bool {
			return c.QueryBackendURL == "https://platform.internal/q" && c.CommandBackendURL == "https://platform.internal/c"
		}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.env), func(t *testing.T) {
			setAll(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			c, err := FromEnv()
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Fatalf("config %+v", c)
			}
		})
	}
	bad := map[string]string{
		"PEER_RATE_LIMIT": "-1", "WORKSPACE_RATE_LIMIT": "fast", "PEER_BURST_LIMIT": "0", "PEER_IN_FLIGHT": "many",
		"MAX_WAIT_SECONDS": "26", "RETRY_MAX_ATTEMPTS": "-2", "ACK_DEADLINE_SECONDS": "1.5", "PEER_PORTS": "443,http",
	}
	for k, v := range bad {
		t.Run("refuses "+k+"="+v, func(t *testing.T) {
			setAll(t)
			t.Setenv(k, v)
			if _, err := FromEnv(); err == nil || !strings.Contains(err.Error(), k) {
				t.Fatalf("%s=%s: %v, want an error naming it", k, v, err)
			}
		})
	}
}
