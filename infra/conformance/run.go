package conformance

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Sections, in the order they run. identity and handshake always run: the
// others need the connection they make.
var Sections = []string{"identity", "handshake", "keys", "verification", "duplicates", "query", "command", "events", "disconnect"}

// Options choose the target and how the suite reaches it.
type Options struct {
	Target string // the target's base URL (scheme and authority)
	Token  string // a user JWT of one of its workspaces, with scope fedgate:admin (for the invite)
	// Dev allows a target and a peer URL on http or loopback (development only).
	Dev bool
	// Listen is the test peer's listen address (default 127.0.0.1:0);
	// PublicURL is where the target reaches it (default http://<address>).
	Listen, PublicURL string
	// Sections limits the run to these sections (identity and handshake always run).
	Sections []string
	// Wait bounds each wait for something asynchronous (default 60 s).
	Wait time.Duration
	// HTTP is the client for calls to the target (nil: one with a 30 s timeout).
	HTTP *http.Client
	// OnResult is told each result as it is known.
	OnResult func(Result)
}

// errSkip marks a check that could not run, with the reason.
type errSkip struct{ reason string }

func (e errSkip) Error() string { return e.reason }

func skip(format string, args ...any) error { return errSkip{fmt.Sprintf(format, args...)} }

// run is one run of the suite.
type run struct {
	opts   Options
	peer   *peer
	report *Report
	// state carried between checks
	invite      string
	connected   bool
	handshake   []byte // the CONNECT as sent
	connectResp reply
}

// Run runs the suite against opts.Target.
func Run(ctx context.Context, opts Options) (*Report, error) {
	target, err := checkTarget(opts.Target, opts.Dev)
	if err != nil {
		return nil, err
	}
	if opts.Listen == "" {
		opts.Listen = "127.0.0.1:0"
	}
	if opts.Wait == 0 {
		opts.Wait = 60 * time.Second
	}
	for _, s := range opts.Sections {
		if !slices.Contains(Sections, s) {
			return nil, fmt.Errorf("unknown section %q (sections: %s)", s, strings.Join(Sections, ", "))
		}
	}
	hc := opts.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	// A peer never follows redirects (PROTOCOL.md §5).
	client := *hc
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	p, err := newPeer(opts.Listen, opts.PublicURL, &client)
	if err != nil {
		return nil, err
	}
	defer p.close()
	if _, err := checkTarget(p.url, opts.Dev); err != nil {
		return nil, fmt.Errorf("the peer's URL: %w (set --public-url)", err)
	}
	p.target = target
	r := &run{opts: opts, peer: p, report: &Report{Target: target, PeerURL: p.url}}
	for _, s := range Sections {
		if s == "identity" || s == "handshake" || len(opts.Sections) == 0 || slices.Contains(opts.Sections, s) {
			r.section(ctx, s)
		}
	}
	r.check(ctx, "verification", "every envelope the target sent this peer verified (signature, freshness, recipient, connection)", r.targetEnvelopesVerified)
	r.report.TargetInstanceID = p.targetDoc.InstanceID
	return r.report, nil
}

// checkTarget normalizes a base URL and refuses http and loopback without dev.
func checkTarget(raw string, dev bool) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "", fmt.Errorf("%q is not an http(s) URL", raw)
	}
	if p := strings.TrimSuffix(strings.TrimRight(u.Path, "/"), basePath); p != "" {
		return "", fmt.Errorf("%q must be scheme and authority only", raw)
	}
	if !dev {
		if u.Scheme != "https" {
			return "", fmt.Errorf("%s is not https: a development target needs --dev", raw)
		}
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || ip != nil && (ip.IsLoopback() || ip.IsPrivate() || ip.IsUnspecified()) {
			return "", fmt.Errorf("%s is a loopback or private address: a development target needs --dev", raw)
		}
	}
	return u.Scheme + "://" + u.Host, nil
}

// check runs one check and records its result.
func (r *run) check(ctx context.Context, section, name string, fn func(context.Context) error) bool {
	start := time.Now()
	res := Result{Section: section, Name: name, Status: Pass}
	err := ctx.Err()
	if err == nil {
		err = fn(ctx)
	}
	var s errSkip
	switch {
	case errors.As(err, &s):
		res.Status, res.Detail = Skip, s.reason
		r.report.Skipped++
	case err != nil:
		res.Status, res.Detail = Fail, err.Error()
		r.report.Failed++
	default:
		r.report.Passed++
	}
	res.DurationMs = time.Since(start).Milliseconds()
	r.report.Checks = append(r.report.Checks, res)
	if r.opts.OnResult != nil {
		r.opts.OnResult(res)
	}
	return res.Status == Pass
}

// needConnection is the precondition of every section after the handshake.
func (r *run) needConnection() error {
	if !r.connected {
		return skip("needs the handshake, which failed")
	}
	return nil
}

func (r *run) section(ctx context.Context, name string) {
	switch name {
	case "identity":
		r.identitySection(ctx)
	case "handshake":
		r.handshakeSection(ctx)
	case "keys":
		r.keysSection(ctx)
	case "verification":
		r.verificationSection(ctx)
	case "duplicates":
		r.duplicatesSection(ctx)
	case "query":
		r.querySection(ctx)
	case "command":
		r.commandSection(ctx)
	case "events":
		r.eventsSection(ctx)
	case "disconnect":
		r.disconnectSection(ctx)
	}
}

func (r *run) targetEnvelopesVerified(context.Context) error {
	r.peer.mu.Lock()
	inbox := slices.Clone(r.peer.inbox)
	r.peer.mu.Unlock()
	if len(inbox) == 0 {
		return skip("the target sent this peer no envelope")
	}
	for _, in := range inbox {
		if in.Err != nil {
			return fmt.Errorf("%s from the target: %v", in.Path, in.Err)
		}
	}
	return nil
}
