package config

import (
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/fedgate/fedgate/shared/faults"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/identity"
	"github.com/fedgate/fedgate/shared/queue"
	"github.com/fedgate/fedgate/shared/ratelimit"
	"github.com/fedgate/fedgate/shared/signing"
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

// Defaults fills unset durations and policies with the documented defaults.
func (c *Config) Defaults() {
	if c.DefaultInboundWorkspace == "" {
		c.DefaultInboundWorkspace = "default"
	}
	if c.Retention == 0 {
		c.Retention = 30 * 24 * time.Hour
	}
	if c.Retry == (federation.RetryPolicy{}) {
		c.Retry = federation.DefaultRetryPolicy
	}
	if c.Circuit == (federation.Circuit{}) {
		c.Circuit = federation.DefaultCircuit
	}
	if c.CommandTimeout == 0 {
		c.CommandTimeout = 5 * time.Minute
	}
	if c.AckDeadline == 0 {
		c.AckDeadline = time.Hour
	}
	if c.WorkspaceClaim == "" {
		c.WorkspaceClaim = "workspace_id"
	}
	if c.OutboxGrace == 0 {
		c.OutboxGrace = time.Minute
	}
	if c.PendingPerOrigin == 0 {
		c.PendingPerOrigin = 10
	}
	if c.PendingTotal == 0 {
		c.PendingTotal = 1000
	}
	if c.PendingExpiry == 0 {
		c.PendingExpiry = 7 * 24 * time.Hour
	}
	if c.SubscriptionLimit == 0 {
		c.SubscriptionLimit = 100
	}
	if len(c.PeerPorts) == 0 {
		c.PeerPorts = []int{443}
	}
	c.PeerRate = ruleOr(c.PeerRate, ratelimit.Rule{Rate: 50, Burst: 100})
	c.WorkspaceRate = ruleOr(c.WorkspaceRate, ratelimit.Rule{Rate: 50, Burst: 200})
	if c.PeerInFlight == 0 {
		c.PeerInFlight = 20
	}
	if c.MaxWait == 0 {
		c.MaxWait = 25 * time.Second
	}
}

// FromEnv reads the configuration from the environment.
func FromEnv() (Config, error) {
	alg, err := signing.ParseAlg(envOr("SIGNING_ALG", string(signing.RS256)))
	if err != nil {
		return Config{}, fmt.Errorf("SIGNING_ALG: %w", err)
	}
	c := Config{
		Identity: identity.Settings{
			Name:         envOr("INSTANCE_NAME", "fedgate"),
			URL:          os.Getenv("INSTANCE_URL"),
			Alg:          alg,
			CommandTypes: listOr(os.Getenv("COMMAND_TYPES"), DefaultCommandTypes),
			EventTypes:   listOr(os.Getenv("EVENT_TYPES"), []string{}),
		},
		Tables:          store.Names{},
		KMSKeyID:        os.Getenv("KMS_KEY_ID"),
		WorkspaceClaim:  envOr("WORKSPACE_CLAIM", "workspace_id"),
		DevMode:         os.Getenv("FEDGATE_DEV_MODE") == "true",
		MetricsInstance: envOr("METRICS_INSTANCE", envOr("INSTANCE_NAME", "fedgate")),
		CrashPoints:     os.Getenv("FEDGATE_CRASH_POINTS"),
	}
	for _, t := range store.Tables {
		c.Tables[t.Name] = os.Getenv(store.EnvVar(t.Name))
	}
	c.Queues = queue.URLs{}
	for _, q := range queue.Queues {
		for _, name := range []string{q.Name, q.DLQName()} {
			c.Queues[name] = os.Getenv(queue.URLEnvVar(name))
		}
	}
	c.DefaultInboundWorkspace = os.Getenv("DEFAULT_INBOUND_WORKSPACE")
	c.QueryBackendURL = os.Getenv("QUERY_BACKEND_URL")
	c.CommandBackendURL = os.Getenv("COMMAND_BACKEND_URL")
	c.OrchestratorURL = os.Getenv("ORCHESTRATOR_URL")
	c.OrchestratorSecretARN = os.Getenv("ORCHESTRATOR_SECRET_ARN")
	if c.Retention, err = seconds("MESSAGE_RETENTION_DAYS", 24*time.Hour); err != nil {
		return c, err
	}
	if c.CommandTimeout, err = seconds("COMMAND_TIMEOUT_SECONDS", time.Second); err != nil {
		return c, err
	}
	if c.PendingExpiry, err = seconds("PENDING_EXPIRY_DAYS", 24*time.Hour); err != nil {
		return c, err
	}
	if c.AckDeadline, err = seconds("ACK_DEADLINE_SECONDS", time.Second); err != nil {
		return c, err
	}
	if c.Retry, err = retryFromEnv(); err != nil {
		return c, err
	}
	if c.MaxWait, err = seconds("MAX_WAIT_SECONDS", time.Second); err != nil {
		return c, err
	}
	if c.MaxWait > 25*time.Second {
		return c, fmt.Errorf("config: MAX_WAIT_SECONDS must not be more than 25 (PROTOCOL.md's longest wait)")
	}
	for name, dst := range map[string]*float64{
		"PEER_RATE_LIMIT": &c.PeerRate.Rate, "WORKSPACE_RATE_LIMIT": &c.WorkspaceRate.Rate,
	} {
		if *dst, err = rate(name); err != nil {
			return c, err
		}
	}
	for name, dst := range map[string]*int{
		"PENDING_PER_ORIGIN": &c.PendingPerOrigin, "PENDING_TOTAL": &c.PendingTotal, "SUBSCRIPTION_LIMIT": &c.SubscriptionLimit,
		"PEER_BURST_LIMIT": &c.PeerRate.Burst, "WORKSPACE_BURST_LIMIT": &c.WorkspaceRate.Burst, "PEER_IN_FLIGHT": &c.PeerInFlight,
	} {
		if *dst, err = count(name); err != nil {
			return c, err
		}
	}
	for _, p := range listOr(os.Getenv("PEER_PORTS"), nil) {
		port, err := strconv.Atoi(p)
		if err != nil || port < 1 || port > 65535 {
			return c, fmt.Errorf("config: PEER_PORTS must list port numbers, not %q", p)
		}
		c.PeerPorts = append(c.PeerPorts, port)
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
	if c.KMSKeyID == "" {
		missing = append(missing, "KMS_KEY_ID")
	}
	if c.Identity.URL == "" {
		missing = append(missing, "INSTANCE_URL")
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
	u, err := url.Parse(c.Identity.URL)
	if err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return fmt.Errorf("config: INSTANCE_URL %q must be a scheme and authority only, like https://fed.example.org", c.Identity.URL)
	}
	if u.Scheme != "https" && !(c.DevMode && u.Scheme == "http") {
		return fmt.Errorf("config: INSTANCE_URL %q must use https", c.Identity.URL)
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

// retryFromEnv reads the retry policy (PROTOCOL.md §8); unset parts keep
// their defaults.
func retryFromEnv() (federation.RetryPolicy, error) {
	p := federation.DefaultRetryPolicy
	for name, dst := range map[string]*time.Duration{
		"RETRY_BASE_SECONDS": &p.BaseDelay, "RETRY_MAX_DELAY_SECONDS": &p.MaxDelay, "RETRY_MAX_AGE_SECONDS": &p.MaxAge,
	} {
		d, err := seconds(name, time.Second)
		if err != nil {
			return p, err
		}
		if d > 0 {
			*dst = d
		}
	}
	n, err := count("RETRY_MAX_ATTEMPTS")
	if err != nil {
		return p, err
	}
	if n > 0 {
		p.MaxAttempts = n
	}
	if p.BaseDelay > p.MaxDelay {
		return p, fmt.Errorf("config: RETRY_BASE_SECONDS must not be more than RETRY_MAX_DELAY_SECONDS")
	}
	return p, nil
}

// count reads a positive whole number (0 if unset).
func count(name string) (int, error) {
	d, err := seconds(name, 1)
	return int(d), err
}

// seconds reads a whole number of units from the environment (0 if unset).
func seconds(name string, unit time.Duration) (time.Duration, error) {
	v := os.Getenv(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("config: %s must be a positive whole number, not %q", name, v)
	}
	return time.Duration(n) * unit, nil
}

// ruleOr fills the unset parts of r from def.
func ruleOr(r, def ratelimit.Rule) ratelimit.Rule {
	if r.Rate == 0 {
		r.Rate = def.Rate
	}
	if r.Burst == 0 {
		r.Burst = def.Burst
	}
	return r
}

// rate reads a positive number of requests per second (0 if unset).
func rate(name string) (float64, error) {
	v := os.Getenv(name)
	if v == "" {
		return 0, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 || f > 1e6 {
		return 0, fmt.Errorf("config: %s must be a positive number of requests per second, not %q", name, v)
	}
	return f, nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func listOr(s string, def []string) []string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	var out []string
	for _, part := range strings.Split(s, ",") {
		if p := strings.TrimSpace(part); p != "" {
			out = append(out, p)
		}
	}
	return out
}
