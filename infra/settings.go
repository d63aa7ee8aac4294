package main

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fedgate/fedgate/shared/config"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/routes"
	"github.com/fedgate/fedgate/shared/signing"
)

// settingPrefix starts every key of ours in cdk.json's "context"; a key with
// it that no row below names is refused (a typo would otherwise be ignored).
const settingPrefix = "fedgate:"

// setting is one fedgate:* context key: its default, an example, the form a
// value must have, and where the value goes. Adding a key is adding a row:
//   - a value the functions read from their environment names the variable
//     in env and needs nothing else (it reaches every function as is);
//   - a value the stack itself uses sets a field of Props in apply.
//
// Values come from cdk.json or `-c key=value` (always text); an empty value
// is the same as an absent one: the default applies.
type setting struct {
	key      string
	def      string // "" when the key is optional (or required)
	required bool   // no default: synth fails without it
	example  string
	form     form
	doc      string // one line for the README's Deploy table
	env      string // the Lambda environment variable it becomes, if any
	apply    func(p *Props, v string)
}

// form is the shape a value must have, described in words for the message
// that refuses it.
type form struct {
	what  string
	check func(v string) bool
}

// settings is every key the stack reads, in the README's order.
var settings = []setting{
	{key: "fedgate:instanceName", def: "fedgate", example: "hub", form: instanceName,
		doc:   "names the stack (`FedgateStack`, or `FedgateStack-<name>`) and every function, log group and alarm, so instances share an account",
		env:   "INSTANCE_NAME",
		apply: func(p *Props, v string) { p.InstanceName = v }},
	{key: "fedgate:domainName", example: "fed.example.org", form: dnsName,
		doc:   "the custom domain: `INSTANCE_URL` becomes `https://<domainName>` and the `execute-api` address is switched off; needs `certificateArn` or `hostedZoneId`",
		apply: func(p *Props, v string) { p.DomainName = v }},
	{key: "fedgate:certificateArn", example: "arn:aws:acm:eu-west-1:123456789012:certificate/0e5c2f7a-1b2c-4d3e-8f90-123456789abc", form: certificateARN,
		doc:   "an ACM certificate for `domainName` in the stack's region; you point DNS at the `DomainTarget` output",
		apply: func(p *Props, v string) { p.CertificateARN = v }},
	{key: "fedgate:hostedZoneId", example: "Z0123456789ABCDEFGHIJ", form: hostedZoneID,
		doc:   "instead of `certificateArn`: the Route 53 zone of `domainName`; the stack makes a DNS-validated certificate and the alias record",
		apply: func(p *Props, v string) { p.HostedZoneID = v }},
	{key: "fedgate:hostedZoneName", example: "example.org", form: dnsName,
		doc:   "the name of that zone (`domainName` must be in it)",
		apply: func(p *Props, v string) { p.HostedZoneName = v }},
	{key: "fedgate:instanceUrl", example: "https://fed.example.org", form: httpsOrigin,
		doc:   "only without `domainName`: the public URL of a front you run yourself; with neither, `INSTANCE_URL` is the API's `execute-api` address (a trial: see Outputs)",
		apply: func(p *Props, v string) { p.InstanceURL = v }},
	{key: "fedgate:jwtIssuer", required: true, example: "https://idp.example.org/", form: httpsURL,
		doc:   "the JWT authorizer's issuer (`iss` of your users' tokens)",
		apply: func(p *Props, v string) { p.JWTIssuer = v }},
	{key: "fedgate:jwtAudience", def: "fedgate", example: "fedgate,fedgate-cli", form: audiences,
		doc:   "accepted audiences (`aud`), comma-separated",
		apply: func(p *Props, v string) { p.JWTAudience = strings.Split(v, ",") }},
	{key: "fedgate:workspaceClaim", def: "workspace_id", example: "https://example.org/workspace", form: claimName,
		doc: "the token claim holding the caller's workspace id",
		env: "WORKSPACE_CLAIM"},
	{key: "fedgate:signingAlg", def: "RS256", example: "EdDSA", form: signingAlg,
		doc: "algorithm of new signing keys (every instance verifies both)",
		env: "SIGNING_ALG"},
	{key: "fedgate:retentionDays", def: "30", example: "90", form: wholeNumber(1, 3650),
		doc: "days messages are kept (DynamoDB TTL)",
		env: "MESSAGE_RETENTION_DAYS"},
	{key: "fedgate:logRetentionDays", def: "30", example: "90", form: logRetention,
		doc:   "days the functions' and the API's logs are kept",
		apply: func(p *Props, v string) { p.LogRetentionDays, _ = strconv.Atoi(v) }},
	{key: "fedgate:alarmEmail", example: "ops@example.org", form: email,
		doc:   "subscribed to the alarm topic (confirm the e-mail AWS sends)",
		apply: func(p *Props, v string) { p.AlarmEmail = v }},
	{key: "fedgate:deletionProtection", def: "true", example: "false", form: boolean,
		doc:   "`true` keeps the tables and the key that seals the signing keys when the stack is deleted (`make destroy`); everything else goes either way",
		apply: func(p *Props, v string) { p.DeletionProtection = v == "true" }},
	{key: "fedgate:orchestratorUrl", example: "https://orchestrator.example.org/api", form: httpsURL,
		doc: "the spoke's orchestrator for `agent.*` commands (its API key: the `OrchestratorSecretArn` output)",
		env: "ORCHESTRATOR_URL"},
	{key: "fedgate:commandTypes", example: "agent.spawn,agent.status,agent.kill", form: typeList,
		doc: "allow-list of incoming command types (empty: the built-in default, see Configuration)",
		env: "COMMAND_TYPES"},
	{key: "fedgate:eventTypes", example: "task.created,task.updated", form: typeList,
		doc: "event types this instance publishes",
		env: "EVENT_TYPES"},
	{key: "fedgate:queryBackendUrl", example: "https://workspace.example.org/federation/query", form: httpsURL,
		doc: "the local platform's API that answers verified incoming QUERY messages fedgate has no built-in for",
		env: "QUERY_BACKEND_URL"},
	{key: "fedgate:commandBackendUrl", example: "https://workspace.example.org/federation/command", form: httpsURL,
		doc: "the local platform's API that executes verified incoming COMMAND messages fedgate has no built-in for",
		env: "COMMAND_BACKEND_URL"},
	{key: "fedgate:retryBaseSeconds", def: secondsText(functionDefaults.Retry.BaseDelay), example: "10", form: wholeNumber(1, 3600),
		doc: "first retry wait of a failed delivery; each later wait is at most double, with full jitter",
		env: "RETRY_BASE_SECONDS"},
	{key: "fedgate:retryMaxDelaySeconds", def: secondsText(functionDefaults.Retry.MaxDelay), example: "1800", form: wholeNumber(1, 86400),
		doc: "longest wait between two tries",
		env: "RETRY_MAX_DELAY_SECONDS"},
	{key: "fedgate:retryMaxAttempts", def: strconv.Itoa(functionDefaults.Retry.MaxAttempts), example: "30", form: wholeNumber(1, 1000),
		doc: "tries before a delivery is FAILED and dead-lettered",
		env: "RETRY_MAX_ATTEMPTS"},
	{key: "fedgate:retryMaxAgeSeconds", def: secondsText(functionDefaults.Retry.MaxAge), example: "172800", form: wholeNumber(60, 14*86400),
		doc: "how long after it was created a delivery is still tried (time a peer's circuit holds it does not count); receivers keep duplicates this long plus a day",
		env: "RETRY_MAX_AGE_SECONDS"},
	{key: "fedgate:ackDeadlineSeconds", def: secondsText(functionDefaults.AckDeadline), example: "600", form: wholeNumber(10, 7*86400),
		doc: "how long a delivery answered 202 waits for its EVENT_ACK before it is retried",
		env: "ACK_DEADLINE_SECONDS"},
	{key: "fedgate:commandTimeoutSeconds", def: secondsText(functionDefaults.CommandTimeout), example: "600", form: wholeNumber(1, 86400),
		doc: "how long a sent QUERY or COMMAND waits for its answer before it is TIMEOUT",
		env: "COMMAND_TIMEOUT_SECONDS"},
	{key: "fedgate:peerPorts", def: portsText(functionDefaults.PeerPorts), example: "443,8443", form: portList,
		doc: "ports a peer's URL may name (the SSRF guard refuses others)",
		env: "PEER_PORTS"},
	{key: "fedgate:subscriptionLimit", def: strconv.Itoa(functionDefaults.SubscriptionLimit), example: "500", form: wholeNumber(1, 100_000),
		doc: "active subscriptions a peer may hold on one connection",
		env: "SUBSCRIPTION_LIMIT"},
	{key: "fedgate:pendingPerOrigin", def: strconv.Itoa(functionDefaults.PendingPerOrigin), example: "20", form: wholeNumber(1, 10_000),
		doc: "unanswered incoming connection requests kept from one origin",
		env: "PENDING_PER_ORIGIN"},
	{key: "fedgate:pendingTotal", def: strconv.Itoa(functionDefaults.PendingTotal), example: "5000", form: wholeNumber(1, 1_000_000),
		doc: "unanswered incoming connection requests kept in all",
		env: "PENDING_TOTAL"},
	{key: "fedgate:pendingExpiryDays", def: strconv.Itoa(int(functionDefaults.PendingExpiry / (24 * time.Hour))), example: "14", form: wholeNumber(1, 365),
		doc: "days an unanswered connection request is kept",
		env: "PENDING_EXPIRY_DAYS"},
	{key: "fedgate:peerRateLimit", def: ratText(functionDefaults.PeerRate.Rate), example: "100", form: positiveNumber,
		doc: "signed envelopes per second one connection may send (in every container together); beyond it 429 `rate_limited` with `Retry-After`",
		env: "PEER_RATE_LIMIT"},
	{key: "fedgate:peerBurstLimit", def: strconv.Itoa(functionDefaults.PeerRate.Burst), example: "200", form: wholeNumber(1, 1_000_000),
		doc: "how many of them may arrive at once",
		env: "PEER_BURST_LIMIT"},
	{key: "fedgate:workspaceRateLimit", def: ratText(functionDefaults.WorkspaceRate.Rate), example: "100", form: positiveNumber,
		doc: "user calls per second of one workspace; beyond it 429 `rate_limited` with `Retry-After`",
		env: "WORKSPACE_RATE_LIMIT"},
	{key: "fedgate:workspaceBurstLimit", def: strconv.Itoa(functionDefaults.WorkspaceRate.Burst), example: "400", form: wholeNumber(1, 1_000_000),
		doc: "how many of them may arrive at once",
		env: "WORKSPACE_BURST_LIMIT"},
	{key: "fedgate:peerInFlight", def: strconv.Itoa(functionDefaults.PeerInFlight), example: "40", form: wholeNumber(1, 1000),
		doc: "deliveries in flight to one peer at once; more wait without spending attempts",
		env: "PEER_IN_FLIGHT"},
	{key: "fedgate:maxWaitSeconds", def: secondsText(functionDefaults.MaxWait), example: "10", form: wholeNumber(1, 25),
		doc: "longest `?waitSeconds=` honoured (a call asking more gets the state after this long)",
		env: "MAX_WAIT_SECONDS"},
	{key: "fedgate:rateLimit", def: "200", example: "500", form: positiveNumber,
		doc:   "the API's steady requests per second",
		apply: func(p *Props, v string) { p.RateLimit, _ = strconv.ParseFloat(v, 64) }},
	{key: "fedgate:burstLimit", def: "400", example: "1000", form: wholeNumber(1, 1_000_000),
		doc:   "the API's burst",
		apply: func(p *Props, v string) { p.BurstLimit, _ = strconv.ParseFloat(v, 64) }},
	{key: "fedgate:incomingRateLimit", def: "50", example: "100", form: positiveNumber,
		doc:   "requests per second on each `/incoming/*` route (no authorizer stands in front of them)",
		apply: func(p *Props, v string) { p.IncomingRateLimit, _ = strconv.ParseFloat(v, 64) }},
	{key: "fedgate:incomingBurstLimit", def: "100", example: "200", form: wholeNumber(1, 1_000_000),
		doc:   "burst on each `/incoming/*` route",
		apply: func(p *Props, v string) { p.IncomingBurstLimit, _ = strconv.ParseFloat(v, 64) }},
	{key: "fedgate:reserveConcurrency", def: "true", example: "false", form: boolean,
		doc:   "`true` gives the routes that wait (`?waitSeconds=`, a peer's answer) reserved concurrency (90 in all); `false` for an account whose concurrency quota cannot spare it",
		apply: func(p *Props, v string) { p.ReserveConcurrency = v == "true" }},
	{key: "fedgate:codeDir", def: "build", example: "dist/lambda", form: text,
		doc:   "where `make build` put `<function>/bootstrap`",
		apply: func(p *Props, v string) { p.CodeDir = v }},
}

// functionDefaults are the functions' own defaults (shared/config), shown
// as the settings' defaults so the two never disagree.
var functionDefaults = func() config.Config {
	var c config.Config
	c.Defaults()
	return c
}()

func secondsText(d time.Duration) string { return strconv.Itoa(int(d / time.Second)) }

func ratText(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func portsText(ports []int) string {
	out := make([]string, len(ports))
	for i, p := range ports {
		out[i] = strconv.Itoa(p)
	}
	return strings.Join(out, ",")
}

// rules check what one value alone cannot: the custom domain's options, and
// that the functions' code is there. Each returns "" when satisfied.
var rules = []func(p Props) string{
	func(p Props) string {
		switch {
		case p.DomainName == "" && p.CertificateARN != "":
			return "fedgate:certificateArn is set but fedgate:domainName is not: the certificate is for the custom domain, so set fedgate:domainName too (like fed.example.org)"
		case p.DomainName == "" && (p.HostedZoneID != "" || p.HostedZoneName != ""):
			return "fedgate:hostedZoneId/hostedZoneName are set but fedgate:domainName is not: set fedgate:domainName to the name in that zone (like fed.example.org)"
		case p.CertificateARN != "" && (p.HostedZoneID != "" || p.HostedZoneName != ""):
			return "set either fedgate:certificateArn (a certificate you made) or fedgate:hostedZoneId with fedgate:hostedZoneName (the stack makes the certificate and the DNS record), not both"
		case p.DomainName != "" && p.CertificateARN == "" && p.HostedZoneID == "" && p.HostedZoneName == "":
			return "fedgate:domainName " + p.DomainName + " needs a certificate: set fedgate:certificateArn (an ACM certificate in the stack's region) or fedgate:hostedZoneId and fedgate:hostedZoneName (the stack makes one)"
		case (p.HostedZoneID == "") != (p.HostedZoneName == ""):
			return "fedgate:hostedZoneId and fedgate:hostedZoneName go together: set both (like Z0123456789ABCDEFGHIJ and example.org)"
		case p.HostedZoneName != "" && p.DomainName != p.HostedZoneName && !strings.HasSuffix(p.DomainName, "."+p.HostedZoneName):
			return "fedgate:domainName " + p.DomainName + " is not in the zone fedgate:hostedZoneName " + p.HostedZoneName + ": use a name that ends in ." + p.HostedZoneName
		}
		return ""
	},
	func(p Props) string {
		base, _ := strconv.Atoi(p.FunctionEnv["RETRY_BASE_SECONDS"])
		most, _ := strconv.Atoi(p.FunctionEnv["RETRY_MAX_DELAY_SECONDS"])
		if base > most {
			return fmt.Sprintf("fedgate:retryBaseSeconds %d is more than fedgate:retryMaxDelaySeconds %d: the first wait cannot be longer than the longest", base, most)
		}
		return ""
	},
	func(p Props) string {
		if p.DomainName != "" && p.InstanceURL != "" && p.InstanceURL != "https://"+p.DomainName {
			return "fedgate:instanceUrl " + p.InstanceURL + " disagrees with fedgate:domainName " + p.DomainName +
				": leave fedgate:instanceUrl out (INSTANCE_URL is https://" + p.DomainName + ")"
		}
		return ""
	},
	func(p Props) string {
		var missing []string
		for _, r := range routes.All {
			if _, err := os.Stat(filepath.Join(p.CodeDir, r.Name, "bootstrap")); err != nil {
				missing = append(missing, r.Name)
			}
		}
		if len(missing) > 0 {
			return fmt.Sprintf("fedgate:codeDir %s lacks <function>/bootstrap for %s: run make build (make synth and make deploy do)",
				p.CodeDir, strings.Join(missing, ", "))
		}
		return ""
	},
}

// loadSettings reads every setting from context (what cdk.json and -c give:
// a key's value, nil when absent) and checks them all: the error lists every
// problem, each naming its key and the form expected.
func loadSettings(context map[string]any) (Props, error) {
	var p Props
	p.FunctionEnv = map[string]string{}
	var problems []string
	known := map[string]bool{}
	for _, s := range settings {
		known[s.key] = true
		v := ""
		if raw, ok := context[s.key]; ok && raw != nil {
			v = strings.TrimSpace(textOf(raw))
		}
		if v == "" {
			v = s.def
		}
		if v == "" {
			if s.required {
				problems = append(problems, fmt.Sprintf("%s is required: %s, like %s", s.key, s.form.what, s.example))
			}
			continue
		}
		if !s.form.check(v) {
			problems = append(problems, fmt.Sprintf("%s %q: expected %s, like %s", s.key, v, s.form.what, s.example))
			continue
		}
		if s.env != "" {
			p.FunctionEnv[s.env] = v
		}
		if s.apply != nil {
			s.apply(&p, v)
		}
	}
	for _, key := range sortedKeys(context) {
		if strings.HasPrefix(key, settingPrefix) && !known[key] {
			problems = append(problems, fmt.Sprintf("%s is not a setting (a typo?); the settings are listed in README.md, Deploy", key))
		}
	}
	if len(problems) == 0 {
		for _, rule := range rules {
			if msg := rule(p); msg != "" {
				problems = append(problems, msg)
			}
		}
	}
	if len(problems) > 0 {
		return p, fmt.Errorf("invalid settings (cdk.json \"context\" or -c key=value):\n  - %s", strings.Join(problems, "\n  - "))
	}
	return p, nil
}

// textOf renders a context value as the text -c would have given.
func textOf(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// The forms values take.
var (
	text = form{"a non-empty text", func(string) bool { return true }}

	// Function names are fedgate-<instance>-<function> (at most 64
	// characters) and the stack name carries it too.
	instanceName = matching(`^[a-z][a-z0-9-]{0,18}[a-z0-9]$|^[a-z]$`,
		"1 to 20 lower-case letters, digits and hyphens, starting with a letter and not ending with a hyphen")
	dnsName = matching(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`,
		"a lower-case DNS name of two or more labels, without scheme, port or trailing dot")
	certificateARN = matching(`^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[A-Za-z0-9-]+$`,
		"an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>)")
	hostedZoneID = matching(`^Z[A-Z0-9]{1,31}$`, "a Route 53 hosted zone id (Z followed by upper-case letters and digits)")
	httpsOrigin  = form{"an https URL with nothing after the host (no path, query or fragment)", func(v string) bool {
		u, err := url.Parse(v)
		return err == nil && u.Scheme == "https" && u.Host != "" && u.User == nil && u.Path == "" && u.RawQuery == "" &&
			u.Fragment == "" && !strings.HasSuffix(v, "?") && !strings.HasSuffix(v, "#")
	}}
	httpsURL = form{"an https URL", func(v string) bool {
		u, err := url.Parse(v)
		return err == nil && u.Scheme == "https" && u.Host != "" && u.User == nil && u.Fragment == ""
	}}
	audiences = form{"comma-separated audiences without spaces or empty entries", func(v string) bool {
		for _, a := range strings.Split(v, ",") {
			if a == "" || strings.ContainsAny(a, " \t") {
				return false
			}
		}
		return true
	}}
	claimName  = matching(`^[!-+\--~]{1,256}$`, "a claim name of visible ASCII characters without spaces or commas")
	signingAlg = form{"RS256 or EdDSA", func(v string) bool { _, err := signing.ParseAlg(v); return err == nil }}
	// CloudWatch Logs accepts only these retention periods.
	logRetention = form{"a number of days CloudWatch Logs offers: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653",
		func(v string) bool {
			return slices.Contains([]string{"1", "3", "5", "7", "14", "30", "60", "90", "120", "150", "180", "365", "400", "545",
				"731", "1096", "1827", "2192", "2557", "2922", "3288", "3653"}, v)
		}}
	email          = matching(`^[^@\s,]+@[^@\s,]+\.[^@\s,]+$`, "one e-mail address")
	boolean        = form{"true or false", func(v string) bool { return v == "true" || v == "false" }}
	positiveNumber = form{"a number greater than 0", func(v string) bool {
		f, err := strconv.ParseFloat(v, 64)
		return err == nil && f > 0 && f < 1e9
	}}
	portList = form{"comma-separated port numbers from 1 to 65535", func(v string) bool {
		for _, p := range strings.Split(v, ",") {
			if n, err := strconv.Atoi(strings.TrimSpace(p)); err != nil || n < 1 || n > 65535 {
				return false
			}
		}
		return true
	}}
	typeList = form{"comma-separated type names: dot-separated lower-case words such as task.created", func(v string) bool {
		for _, t := range strings.Split(v, ",") {
			if !federation.ValidTypeName(strings.TrimSpace(t)) {
				return false
			}
		}
		return true
	}}
)

func matching(pattern, what string) form {
	re := regexp.MustCompile(pattern)
	return form{what, re.MatchString}
}

func wholeNumber(min, max int) form {
	return form{fmt.Sprintf("a whole number from %d to %d", min, max), func(v string) bool {
		n, err := strconv.Atoi(v)
		return err == nil && n >= min && n <= max
	}}
}
