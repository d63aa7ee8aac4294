package config

import (
	"flag"
	"fmt"
	"os"
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
	t.Setenv("AWS_LAMBDA_FUNCTION_NAME", "fedgate-deliver")
	if _, err := FromEnv(); err == nil || !strings.Contains(err.Error(), "FEDGATE_DEV_MODE") {
		t.Fatalf("dev mode in AWS Lambda: %v", err)
	}
}

// Every setting of the table reaches its field: its example, set in the
// environment, is what the configuration holds; unset, its default is.
func TestEverySettingReachesItsField(t *testing.T) {
	for _, st := range Settings {
		t.Run(st.Env, func(t *testing.T) {
			setAll(t)
			c, err := FromEnv()
			if err != nil {
				t.Fatal(err)
			}
			if got := st.Text(&c); st.Default != "" && got != st.Default {
				t.Errorf("unset: %s = %q, want the default %q", st.Field, got, st.Default)
			}
			t.Setenv(st.Env, st.Example)
			if st.Env == "FEDGATE_CRASH_POINTS" {
				t.Setenv("FEDGATE_DEV_MODE", "true")
			}
			if c, err = FromEnv(); err != nil {
				t.Fatal(err)
			}
			if got := st.Text(&c); got != st.Example {
				t.Errorf("%s=%s: %s = %q", st.Env, st.Example, st.Field, got)
			}
		})
	}
}

// Every example and default passes its own form, and every setting has a
// field the table can fill.
func TestSettingsTable(t *testing.T) {
	seen := map[string]bool{}
	for _, st := range Settings {
		if seen[st.Env] {
			t.Errorf("%s is in the table twice", st.Env)
		}
		seen[st.Env] = true
		if st.Example == "" || !st.Form.Check(st.Example, false) {
			t.Errorf("%s: example %q does not pass its form (%s)", st.Env, st.Example, st.Form.What)
		}
		if st.Default != "" && !st.Form.Check(st.Default, false) {
			t.Errorf("%s: default %q does not pass its form", st.Env, st.Default)
		}
		if st.Required && st.Default != "" {
			t.Errorf("%s is required and has a default", st.Env)
		}
		var c Config
		if err := st.Apply(&c, st.Example); err != nil {
			t.Errorf("%s: %v", st.Env, err)
		}
		if st.Doc == "" {
			t.Errorf("%s has no documentation line", st.Env)
		}
	}
}

// A value that does not have its setting's form is refused, naming it.
func TestFromEnvRefusesBadValues(t *testing.T) {
	bad := map[string]string{
		"PEER_RATE_LIMIT": "-1", "WORKSPACE_RATE_LIMIT": "fast", "PEER_BURST_LIMIT": "0", "PEER_IN_FLIGHT": "many",
		"MAX_WAIT_SECONDS": "26", "RETRY_MAX_ATTEMPTS": "-2", "ACK_DEADLINE_SECONDS": "1.5", "PEER_PORTS": "443,http",
		"QUERY_BACKEND_URL": "http://platform.internal/q", "COMMAND_TYPES": "Agent.Spawn", "FEDGATE_DEV_MODE": "yes",
	}
	for k, v := range bad {
		t.Run(k+"="+v, func(t *testing.T) {
			setAll(t)
			t.Setenv(k, v)
			if _, err := FromEnv(); err == nil || !strings.Contains(err.Error(), k) {
				t.Fatalf("%s=%s: %v, want an error naming it", k, v, err)
			}
		})
	}
	setAll(t)
	t.Setenv("RETRY_BASE_SECONDS", "60")
	t.Setenv("RETRY_MAX_DELAY_SECONDS", "30")
	if _, err := FromEnv(); err == nil {
		t.Fatal("a first wait longer than the longest accepted")
	}
}

var updateReadme = flag.Bool("update-readme", false, "write the settings table into README.md's Configuration section")

// configurationTable is README's Configuration table, made from Settings.
func configurationTable() string {
	var b strings.Builder
	b.WriteString("| variable | meaning | default |\n|---|---|---|\n")
	for _, st := range Settings {
		def := "`" + st.Default + "`"
		switch {
		case st.Required:
			def = "required"
		case st.Default == "":
			def = "none"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", st.Env, st.Doc, def)
	}
	b.WriteString("| `TABLE_<NAME>` | physical name of each table (instance, connections, messages, subscriptions, agents, invites, limits) | required |\n")
	b.WriteString("| `QUEUE_URL_<NAME>` | URL of each queue and DLQ (delivery, ack, dispatch, fanout, and `_DLQ`) | required |\n")
	return b.String()
}

// The README's configuration table is the settings table, written from it
// (go test ./shared/config -run ReadmeConfiguration -update-readme).
func TestReadmeConfigurationTable(t *testing.T) {
	const path = "../../README.md"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	head := "\n## Configuration (Lambda environment)\n\n"
	start := strings.Index(text, head)
	if start < 0 {
		t.Fatal("README has no Configuration section")
	}
	start += len(head)
	end := start + strings.Index(text[start:], "\n\n") + 1
	if got, want := text[start:end], configurationTable(); got != want {
		if *updateReadme {
			if err := os.WriteFile(path, []byte(text[:start]+want+text[end:]), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Errorf("README's Configuration table is not the settings table; run go test ./shared/config -run ReadmeConfiguration -update-readme\nwant:\n%s", want)
	}
}
