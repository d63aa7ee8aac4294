package main

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/fedgate/fedgate/shared/config"
	"github.com/fedgate/fedgate/shared/routes"
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
// that refuses it: the functions' own (shared/config), checked as a deployed
// stack is (never in development mode).
type form = config.Form

// stackSettings are the keys the stack itself uses; the keys that become the
// functions' environment come from shared/config's table (functionSettings).
var stackSettings = []setting{
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
	{key: "fedgate:logRetentionDays", def: "30", example: "90", form: logRetention,
		doc:   "days the functions' and the API's logs are kept",
		apply: func(p *Props, v string) { p.LogRetentionDays, _ = strconv.Atoi(v) }},
	{key: "fedgate:alarmEmail", example: "ops@example.org", form: email,
		doc:   "subscribed to the alarm topic (confirm the e-mail AWS sends)",
		apply: func(p *Props, v string) { p.AlarmEmail = v }},
	{key: "fedgate:deletionProtection", def: "true", example: "false", form: boolean,
		doc:   "`true` keeps the tables and the key that seals the signing keys when the stack is deleted (`make destroy`); everything else goes either way",
		apply: func(p *Props, v string) { p.DeletionProtection = v == "true" }},
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

// settings is every key the stack reads: its own, then the functions'.
var settings = append(stackSettings, functionSettings()...)

// alsoApply are the functions' settings the stack uses itself too.
var alsoApply = map[string]func(p *Props, v string){
	"fedgate:instanceName": func(p *Props, v string) { p.InstanceName = v },
}

// functionSettings turns each setting of the functions' table that a
// context key sets into a row: the same default, form, example and
// documentation, so the stack and the functions never disagree.
func functionSettings() []setting {
	var out []setting
	for _, st := range config.Settings {
		if st.Context == "" {
			continue
		}
		out = append(out, setting{
			key: st.Context, def: st.Default, example: st.Example, doc: st.Doc, env: st.Env,
			form: st.Form, apply: alsoApply[st.Context],
		})
	}
	return out
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
				problems = append(problems, fmt.Sprintf("%s is required: %s, like %s", s.key, s.form.What, s.example))
			}
			continue
		}
		if !s.form.Check(v, false) {
			problems = append(problems, fmt.Sprintf("%s %q: expected %s, like %s", s.key, v, s.form.What, s.example))
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

// The forms only the stack's own settings take (the functions' are in
// shared/config).
var (
	text           = config.Text
	boolean        = config.Boolean
	positiveNumber = config.PositiveNumber
	httpsURL       = config.HTTPSURL
	wholeNumber    = config.WholeNumber
	dnsName        = config.Matching(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`,
		"a lower-case DNS name of two or more labels, without scheme, port or trailing dot")
	certificateARN = config.Matching(`^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[A-Za-z0-9-]+$`,
		"an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>)")
	hostedZoneID = config.Matching(`^Z[A-Z0-9]{1,31}$`, "a Route 53 hosted zone id (Z followed by upper-case letters and digits)")
	email        = config.Matching(`^[^@\s,]+@[^@\s,]+\.[^@\s,]+$`, "one e-mail address")
	httpsOrigin  = form{What: "an https URL with nothing after the host (no path, query or fragment)", Check: func(v string, _ bool) bool {
		u, err := url.Parse(v)
		return err == nil && u.Scheme == "https" && u.Host != "" && u.User == nil && u.Path == "" && u.RawQuery == "" &&
			u.Fragment == "" && !strings.HasSuffix(v, "?") && !strings.HasSuffix(v, "#")
	}}
	audiences = form{What: "comma-separated audiences without spaces or empty entries", Check: func(v string, _ bool) bool {
		for _, a := range strings.Split(v, ",") {
			if a == "" || strings.ContainsAny(a, " \t") {
				return false
			}
		}
		return true
	}}
	// CloudWatch Logs accepts only these retention periods.
	logRetention = form{What: "a number of days CloudWatch Logs offers: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653",
		Check: func(v string, _ bool) bool {
			return slices.Contains([]string{"1", "3", "5", "7", "14", "30", "60", "90", "120", "150", "180", "365", "400", "545",
				"731", "1096", "1827", "2192", "2557", "2922", "3288", "3653"}, v)
		}}
)
