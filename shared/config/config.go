package config

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/fedgate/fedgate/shared/faults"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/identity"
	"github.com/fedgate/fedgate/shared/queue"
	"github.com/fedgate/fedgate/shared/ratelimit"
	"github.com/fedgate/fedgate/shared/store"
)

// DefaultCommandTypes is the initial allow-list of incoming command types.
var DefaultCommandTypes = []string{federation.CommandEventSubscribe, federation.CommandEventUnsubscribe, federation.CommandEventSync,
	federation.CommandAgentSpawn, federation.CommandAgentStatus, federation.CommandAgentKill}

// Config is everything a function needs to know about its deployment.
type Config struct {
	Identity       identity.Settings
	Tables         store.Names
	KMSKeyID       string // KMS key that seals the signing keys
	WorkspaceClaim string // JWT claim with the caller's workspace id
	// DevMode allows http and loopback peers (local runner only).
	DevMode bool
	Queues  queue.URLs // work queues and their DLQs by name
	// DefaultInboundWorkspace receives connections that arrive without an invite.
	DefaultInboundWorkspace string
	Retention               time.Duration // how long messages are kept
	Retry                   federation.RetryPolicy
	Circuit                 federation.Circuit
	CommandTimeout          time.Duration // no COMMAND_RESPONSE by then → TIMEOUT
	AckDeadline             time.Duration // an EVENT answered 202 without an EVENT_ACK by then is retried
	// QueryBackendURL and CommandBackendURL are the local platform's API that
	// answers queries and executes commands fedgate has no built-in for ("" = none).
	QueryBackendURL   string
	CommandBackendURL string
	// OrchestratorURL is the local orchestrator the dispatcher sends agent.*
	// commands to ("" = none); its API key comes from OrchestratorAPIKey
	// (local runner) or the Secrets Manager secret OrchestratorSecretARN,
	// read once per cold start.
	OrchestratorURL       string
	OrchestratorAPIKey    string
	OrchestratorSecretARN string
	// OutboxGrace is how old an unsent job must be before the sweeper sends it.
	OutboxGrace time.Duration
	// Limits a peer cannot pass (PROTOCOL.md §5, §8): INBOUND PENDING
	// connections per origin and in all, how long one waits for a user, and
	// active subscriptions per connection and direction.
	PendingPerOrigin, PendingTotal int
	PendingExpiry                  time.Duration
	SubscriptionLimit              int
	// PeerPorts are the ports peers may be reached at outside development.
	PeerPorts []int
	// CrashPoints names crash points and their chances ("deliver.after-post=0.02,…"):
	// the local runner's soak only, and only in DevMode (shared/faults).
	CrashPoints string
	// MetricsInstance is the Instance dimension of every metric (the
	// deployment's instance name, stable across renames).
	MetricsInstance string
	// Limits per caller (PROTOCOL.md §9): incoming envelopes per connection,
	// user calls per workspace, deliveries in flight to one peer, and the
	// longest a ?waitSeconds= call holds its function.
	PeerRate, WorkspaceRate ratelimit.Rule
	PeerInFlight            int
	MaxWait                 time.Duration
	// KeyRefetchEvery bounds how often a peer's keys are fetched again on an
	// unknown keyId (PROTOCOL.md §3: once a minute); tests shorten it.
	KeyRefetchEvery time.Duration
}

// Defaults fills every unset setting with its default (Settings), and the
// policies that are not settings with PROTOCOL.md's values.
func (c *Config) Defaults() {
	for _, st := range Settings {
		if st.Default != "" && st.isZero(c) {
			_ = st.Apply(c, st.Default) // defaults pass their own form (TestSettingsTable)
		}
	}
	if c.Identity.EventTypes == nil {
		c.Identity.EventTypes = []string{}
	}
	if c.MetricsInstance == "" {
		c.MetricsInstance = c.Identity.Name
	}
	if c.Circuit == (federation.Circuit{}) {
		c.Circuit = federation.DefaultCircuit
	}
	if c.OutboxGrace == 0 {
		c.OutboxGrace = time.Minute
	}
}

// FromEnv reads the configuration from the environment: every setting of
// the table, each checked against its form, and the tables' and queues'
// names the stack gives.
func FromEnv() (Config, error) {
	var c Config
	dev := os.Getenv("FEDGATE_DEV_MODE") == "true"
	var problems []string
	for _, st := range Settings {
		v := strings.TrimSpace(os.Getenv(st.Env))
		if v == "" {
			continue
		}
		if !st.Form.Check(v, dev) {
			problems = append(problems, fmt.Sprintf("%s %q: expected %s", st.Env, v, st.Form.What))
			continue
		}
		if err := st.Apply(&c, v); err != nil {
			return c, err
		}
	}
	if len(problems) > 0 {
		return c, fmt.Errorf("config: %s", strings.Join(problems, "; "))
	}
	c.Tables = store.Names{}
	for _, t := range store.Tables {
		c.Tables[t.Name] = os.Getenv(store.EnvVar(t.Name))
	}
	c.Queues = queue.URLs{}
	for _, q := range queue.Queues {
		for _, name := range []string{q.Name, q.DLQName()} {
			c.Queues[name] = os.Getenv(queue.URLEnvVar(name))
		}
	}
	c.Defaults()
	return c, c.Validate()
}

// Validate reports the first missing or malformed setting.
func (c Config) Validate() error {
	var missing []string
	for _, t := range store.Tables {
		if c.Tables[t.Name] == "" {
			missing = append(missing, store.EnvVar(t.Name))
		}
	}
	for _, st := range Settings {
		if st.Required && st.isZero(&c) {
			missing = append(missing, st.Env)
		}
	}
	for _, q := range queue.Queues {
		for _, name := range []string{q.Name, q.DLQName()} {
			if c.Queues[name] == "" {
				missing = append(missing, queue.URLEnvVar(name))
			}
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("config: missing %s", strings.Join(missing, ", "))
	}
	if c.DevMode && os.Getenv("AWS_LAMBDA_FUNCTION_NAME") != "" {
		// Development mode turns the SSRF guard off: never in a deployed function.
		return fmt.Errorf("config: FEDGATE_DEV_MODE is for the local runner only and refused in AWS Lambda")
	}
	if !Origin.Check(c.Identity.URL, c.DevMode) {
		return fmt.Errorf("config: INSTANCE_URL %q: expected %s, like https://fed.example.org", c.Identity.URL, Origin.What)
	}
	if c.Retry.BaseDelay > c.Retry.MaxDelay {
		return fmt.Errorf("config: RETRY_BASE_SECONDS must not be more than RETRY_MAX_DELAY_SECONDS")
	}
	if c.MaxWait > 25*time.Second {
		return fmt.Errorf("config: MAX_WAIT_SECONDS must not be more than 25 (PROTOCOL.md's longest wait)")
	}
	if _, err := faults.Parse(c.CrashPoints); err != nil {
		return fmt.Errorf("config: FEDGATE_CRASH_POINTS: %w", err)
	}
	for name, list := range map[string][]string{"COMMAND_TYPES": c.Identity.CommandTypes, "EVENT_TYPES": c.Identity.EventTypes} {
		for _, t := range list {
			if !federation.ValidTypeName(t) {
				return fmt.Errorf("config: %s entry %q must be dot-separated lower-case words such as task.created", name, t)
			}
		}
	}
	return nil
}
