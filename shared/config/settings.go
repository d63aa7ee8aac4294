package config

import (
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/signing"
)

// Setting is one value of a function's environment, written once: its
// variable, the CDK context key that sets it at deploy (fedgate:…; "" when
// the stack sets it itself), its default, an example, the form its value
// must have, one line for the README, and the Config field it fills. The
// functions (FromEnv, Defaults), the CDK stack (infra/settings.go) and the
// README's tables all read this table.
type Setting struct {
	Env     string
	Context string
	Default string // "" when there is none (or it is required)
	// Required settings have no default: a function does not start without them.
	Required bool
	Example  string
	Form     Form
	Doc      string
	// Field is the Config field, a dotted path ("Retry.BaseDelay"); its
	// Go type decides how the Text is read: time.Duration counts Unit,
	// []string and []int are comma-separated.
	Field string
	Unit  time.Duration
}

// Form is the shape a setting's value must have, in words for the message
// that refuses it. dev is the local runner's development mode (http and
// loopback URLs allowed); a deployed stack never has it.
type Form struct {
	What  string
	Check func(v string, dev bool) bool
}

// Settings is every setting of the functions' environment, in the README's order.
var Settings = []Setting{
	{Env: "INSTANCE_URL", Required: true, Example: "https://fed.example.org", Form: Origin, Field: "Identity.URL",
		Doc: "public base URL, scheme and authority only (`https://fed.example.org`)"},
	{Env: "INSTANCE_NAME", Context: "fedgate:instanceName", Default: "fedgate", Example: "hub", Form: InstanceName, Field: "Identity.Name",
		Doc: "names the stack (`FedgateStack`, or `FedgateStack-<name>`) and every function, log group and alarm, so instances share an account; the initial display name (`PATCH /instance` changes it)"},
	{Env: "SIGNING_ALG", Context: "fedgate:signingAlg", Default: "RS256", Example: "EdDSA", Form: SigningAlg, Field: "Identity.Alg",
		Doc: "algorithm of new signing keys: `RS256` or `EdDSA` (every instance verifies both)"},
	{Env: "COMMAND_TYPES", Context: "fedgate:commandTypes", Default: strings.Join(DefaultCommandTypes, ","), Example: "agent.spawn,agent.status,agent.kill", Form: TypeList, Field: "Identity.CommandTypes",
		Doc: "allow-list of incoming command types, comma-separated; a changed value is in force after the next deploy (a `PATCH /instance` lasts until then)"},
	{Env: "EVENT_TYPES", Context: "fedgate:eventTypes", Example: "task.created,task.updated", Form: TypeList, Field: "Identity.EventTypes",
		Doc: "event types this instance publishes (same rule)"},
	{Env: "KMS_KEY_ID", Required: true, Example: "arn:aws:kms:eu-west-1:123456789012:key/0e5c2f7a", Form: Text, Field: "KMSKeyID",
		Doc: "KMS key that seals the signing keys"},
	{Env: "WORKSPACE_CLAIM", Context: "fedgate:workspaceClaim", Default: "workspace_id", Example: "https://example.org/workspace", Form: ClaimName, Field: "WorkspaceClaim",
		Doc: "the token claim holding the caller's workspace id"},
	{Env: "DEFAULT_INBOUND_WORKSPACE", Default: "default", Example: "partners", Form: Text, Field: "DefaultInboundWorkspace",
		Doc: "workspace of connections that arrive without an invite"},
	{Env: "MESSAGE_RETENTION_DAYS", Context: "fedgate:retentionDays", Default: "30", Example: "90", Form: WholeNumber(1, 3650), Field: "Retention", Unit: day,
		Doc: "days messages are kept (DynamoDB TTL; de-duplication records live at least 8 days: the 7-day sender horizon plus a day)"},
	{Env: "COMMAND_TIMEOUT_SECONDS", Context: "fedgate:commandTimeoutSeconds", Default: "300", Example: "600", Form: WholeNumber(1, 86400), Field: "CommandTimeout", Unit: time.Second,
		Doc: "how long a sent COMMAND waits for its answer before it is TIMEOUT (subscription commands are retried until answered instead)"},
	{Env: "RETRY_BASE_SECONDS", Context: "fedgate:retryBaseSeconds", Default: "5", Example: "10", Form: WholeNumber(1, 3600), Field: "Retry.BaseDelay", Unit: time.Second,
		Doc: "first retry wait of a failed delivery; each later wait is at most double, with full jitter"},
	{Env: "RETRY_MAX_DELAY_SECONDS", Context: "fedgate:retryMaxDelaySeconds", Default: "900", Example: "1800", Form: WholeNumber(1, 86400), Field: "Retry.MaxDelay", Unit: time.Second,
		Doc: "longest wait between two tries"},
	{Env: "RETRY_MAX_ATTEMPTS", Context: "fedgate:retryMaxAttempts", Default: "20", Example: "30", Form: WholeNumber(1, 1000), Field: "Retry.MaxAttempts",
		Doc: "tries before a delivery is FAILED and dead-lettered"},
	{Env: "RETRY_MAX_AGE_SECONDS", Context: "fedgate:retryMaxAgeSeconds", Default: "86400", Example: "172800", Form: WholeNumber(60, 14*86400), Field: "Retry.MaxAge", Unit: time.Second,
		Doc: "how long after it was created a delivery is still tried (time a peer's circuit holds it does not count); receivers keep duplicates this long plus a day"},
	{Env: "ACK_DEADLINE_SECONDS", Context: "fedgate:ackDeadlineSeconds", Default: "3600", Example: "600", Form: WholeNumber(10, 7*86400), Field: "AckDeadline", Unit: time.Second,
		Doc: "how long a delivery answered 202 waits for its EVENT_ACK before it is retried"},
	{Env: "QUERY_BACKEND_URL", Context: "fedgate:queryBackendUrl", Example: "https://workspace.example.org/federation/query", Form: HTTPSURL, Field: "QueryBackendURL",
		Doc: "the local platform's API that answers verified incoming QUERY messages fedgate has no built-in for"},
	{Env: "COMMAND_BACKEND_URL", Context: "fedgate:commandBackendUrl", Example: "https://workspace.example.org/federation/command", Form: HTTPSURL, Field: "CommandBackendURL",
		Doc: "the local platform's API that executes verified incoming COMMAND messages fedgate has no built-in for"},
	{Env: "ORCHESTRATOR_URL", Context: "fedgate:orchestratorUrl", Example: "https://orchestrator.example.org/api", Form: HTTPSURL, Field: "OrchestratorURL",
		Doc: "the spoke's orchestrator for `agent.*` commands (its API key: the `OrchestratorSecretArn` output)"},
	{Env: "ORCHESTRATOR_SECRET_ARN", Example: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:fedgate-orchestrator", Form: Text, Field: "OrchestratorSecretARN",
		Doc: "the Secrets Manager secret holding the orchestrator's API key (the stack makes it)"},
	{Env: "PEER_PORTS", Context: "fedgate:peerPorts", Default: "443", Example: "443,8443", Form: PortList, Field: "PeerPorts",
		Doc: "ports a peer's URL may name (the SSRF guard refuses others)"},
	{Env: "PENDING_PER_ORIGIN", Context: "fedgate:pendingPerOrigin", Default: "10", Example: "20", Form: WholeNumber(1, 10_000), Field: "PendingPerOrigin",
		Doc: "unanswered incoming connection requests kept from one origin"},
	{Env: "PENDING_TOTAL", Context: "fedgate:pendingTotal", Default: "1000", Example: "5000", Form: WholeNumber(1, 1_000_000), Field: "PendingTotal",
		Doc: "unanswered incoming connection requests kept in all"},
	{Env: "PENDING_EXPIRY_DAYS", Context: "fedgate:pendingExpiryDays", Default: "7", Example: "14", Form: WholeNumber(1, 365), Field: "PendingExpiry", Unit: day,
		Doc: "days an unanswered connection request is kept"},
	{Env: "SUBSCRIPTION_LIMIT", Context: "fedgate:subscriptionLimit", Default: "100", Example: "500", Form: WholeNumber(1, 100_000), Field: "SubscriptionLimit",
		Doc: "active subscriptions a peer may hold on one connection, in each direction"},
	{Env: "PEER_RATE_LIMIT", Context: "fedgate:peerRateLimit", Default: "50", Example: "100", Form: PositiveNumber, Field: "PeerRate.Rate",
		Doc: "signed envelopes per second one connection may send (in every container together); beyond it 429 `rate_limited` with `Retry-After`"},
	{Env: "PEER_BURST_LIMIT", Context: "fedgate:peerBurstLimit", Default: "100", Example: "200", Form: WholeNumber(1, 1_000_000), Field: "PeerRate.Burst",
		Doc: "how many of them may arrive at once"},
	{Env: "WORKSPACE_RATE_LIMIT", Context: "fedgate:workspaceRateLimit", Default: "50", Example: "100", Form: PositiveNumber, Field: "WorkspaceRate.Rate",
		Doc: "user calls per second of one workspace; beyond it 429 `rate_limited` with `Retry-After`"},
	{Env: "WORKSPACE_BURST_LIMIT", Context: "fedgate:workspaceBurstLimit", Default: "200", Example: "400", Form: WholeNumber(1, 1_000_000), Field: "WorkspaceRate.Burst",
		Doc: "how many of them may arrive at once"},
	{Env: "PEER_IN_FLIGHT", Context: "fedgate:peerInFlight", Default: "20", Example: "40", Form: WholeNumber(1, 1000), Field: "PeerInFlight",
		Doc: "deliveries in flight to one peer at once; more wait without spending attempts"},
	{Env: "MAX_WAIT_SECONDS", Context: "fedgate:maxWaitSeconds", Default: "25", Example: "10", Form: WholeNumber(1, 25), Field: "MaxWait", Unit: time.Second,
		Doc: "longest `?waitSeconds=` honoured (a call asking more gets the state after this long)"},
	{Env: "METRICS_INSTANCE", Example: "hub", Form: Text, Field: "MetricsInstance",
		Doc: "the `Instance` dimension of fedgate's metrics (namespace `Fedgate`); unset: `INSTANCE_NAME` (the stack sets it to the instance name it was first deployed with)"},
	{Env: "FEDGATE_DEV_MODE", Default: "false", Example: "true", Form: Boolean, Field: "DevMode",
		Doc: "`true` allows `http`, loopback URLs and any port (local runner only)"},
	{Env: "FEDGATE_CRASH_POINTS", Example: "deliver.after-post=0.01,fanout.after-write=0.05", Form: Text, Field: "CrashPoints",
		Doc: "with `FEDGATE_DEV_MODE` only: crash points and their chances (README, Convergence)"},
}

const day = 24 * time.Hour

// The forms values take.
var (
	Text           = Form{"a non-empty text", func(v string, _ bool) bool { return strings.TrimSpace(v) != "" }}
	Boolean        = Form{"true or false", func(v string, _ bool) bool { return v == "true" || v == "false" }}
	PositiveNumber = Form{"a number greater than 0", func(v string, _ bool) bool {
		f, err := strconv.ParseFloat(v, 64)
		return err == nil && f > 0 && f < 1e9
	}}
	SigningAlg = Form{"RS256 or EdDSA", func(v string, _ bool) bool { _, err := signing.ParseAlg(v); return err == nil }}
	// Function names are fedgate-<instance>-<function> (at most 64
	// characters) and the stack name carries it too.
	InstanceName = Matching(`^[a-z][a-z0-9-]{0,18}[a-z0-9]$|^[a-z]$`,
		"1 to 20 lower-case letters, digits and hyphens, starting with a letter and not ending with a hyphen")
	ClaimName = Matching(`^[!-+\--~]{1,256}$`, "a claim name of visible ASCII characters without spaces or commas")
	Origin    = Form{"an https URL with nothing after the host (no path, query or fragment)", func(v string, dev bool) bool {
		u, err := url.Parse(v)
		return err == nil && webScheme(u.Scheme, dev) && u.Host != "" && u.User == nil && (u.Path == "" || u.Path == "/") &&
			u.RawQuery == "" && u.Fragment == "" && !strings.HasSuffix(v, "?") && !strings.HasSuffix(v, "#")
	}}
	HTTPSURL = Form{"an https URL", func(v string, dev bool) bool {
		u, err := url.Parse(v)
		return err == nil && webScheme(u.Scheme, dev) && u.Host != "" && u.User == nil && u.Fragment == ""
	}}
	PortList = Form{"comma-separated port numbers from 1 to 65535", func(v string, _ bool) bool {
		for _, p := range strings.Split(v, ",") {
			if n, err := strconv.Atoi(strings.TrimSpace(p)); err != nil || n < 1 || n > 65535 {
				return false
			}
		}
		return true
	}}
	TypeList = Form{"comma-separated type names: dot-separated lower-case words such as task.created", func(v string, _ bool) bool {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" && !federation.ValidTypeName(t) {
				return false
			}
		}
		return true
	}}
)

// webScheme: https, and http too in development.
func webScheme(scheme string, dev bool) bool { return scheme == "https" || (dev && scheme == "http") }

func Matching(pattern, what string) Form {
	re := regexp.MustCompile(pattern)
	return Form{what, func(v string, _ bool) bool { return re.MatchString(v) }}
}

func WholeNumber(min, max int) Form {
	return Form{fmt.Sprintf("a whole number from %d to %d", min, max), func(v string, _ bool) bool {
		n, err := strconv.Atoi(v)
		return err == nil && n >= min && n <= max
	}}
}

// field returns the Config field a setting fills.
func (s Setting) field(c *Config) reflect.Value {
	v := reflect.ValueOf(c).Elem()
	for _, name := range strings.Split(s.Field, ".") {
		v = v.FieldByName(name)
	}
	return v
}

var durationType = reflect.TypeFor[time.Duration]()

// Apply reads Text into the setting's field of c. The Text has passed the
// setting's form, so only its shape is read here.
func (s Setting) Apply(c *Config, Text string) error {
	f := s.field(c)
	switch {
	case f.Type() == durationType:
		n, err := strconv.Atoi(Text)
		if err != nil {
			return fmt.Errorf("config: %s: %w", s.Env, err)
		}
		f.SetInt(int64(time.Duration(n) * s.Unit))
	case f.Kind() == reflect.String:
		f.SetString(Text)
	case f.Kind() == reflect.Bool:
		f.SetBool(Text == "true")
	case f.Kind() == reflect.Int:
		n, err := strconv.Atoi(Text)
		if err != nil {
			return fmt.Errorf("config: %s: %w", s.Env, err)
		}
		f.SetInt(int64(n))
	case f.Kind() == reflect.Float64:
		x, err := strconv.ParseFloat(Text, 64)
		if err != nil {
			return fmt.Errorf("config: %s: %w", s.Env, err)
		}
		f.SetFloat(x)
	case f.Type() == reflect.TypeFor[[]string]():
		f.Set(reflect.ValueOf(list(Text)))
	case f.Type() == reflect.TypeFor[[]int]():
		var ports []int
		for _, p := range list(Text) {
			n, _ := strconv.Atoi(p)
			ports = append(ports, n)
		}
		f.Set(reflect.ValueOf(ports))
	default:
		return fmt.Errorf("config: %s: field %s of type %s cannot be set from text", s.Env, s.Field, f.Type())
	}
	return nil
}

// Text renders the setting's field of c as the Text that would set it.
func (s Setting) Text(c *Config) string {
	f := s.field(c)
	switch {
	case f.Type() == durationType:
		return strconv.FormatInt(int64(time.Duration(f.Int())/s.Unit), 10)
	case f.Kind() == reflect.String:
		return f.String()
	case f.Kind() == reflect.Bool:
		return strconv.FormatBool(f.Bool())
	case f.Kind() == reflect.Int:
		return strconv.FormatInt(f.Int(), 10)
	case f.Kind() == reflect.Float64:
		return strconv.FormatFloat(f.Float(), 'f', -1, 64)
	case f.Kind() == reflect.Slice:
		parts := make([]string, f.Len())
		for i := range parts {
			parts[i] = fmt.Sprint(f.Index(i).Interface())
		}
		return strings.Join(parts, ",")
	}
	return fmt.Sprint(f.Interface())
}

// isZero reports whether the setting's field of c is unset.
func (s Setting) isZero(c *Config) bool { return s.field(c).IsZero() }

// list splits a comma-separated value, dropping blanks.
func list(s string) []string {
	out := []string{}
	for _, part := range strings.Split(s, ",") {
		if p := strings.TrimSpace(part); p != "" {
			out = append(out, p)
		}
	}
	return out
}
