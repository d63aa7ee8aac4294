package peer

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/identity"
	"github.com/fedgate/fedgate/shared/routes"
)

// Errors a caller maps to 502/504 or retries on.
var (
	ErrUnreachable = errors.New("remote unreachable")
	ErrTimeout     = errors.New("remote timed out")
	ErrBadURL      = errors.New("invalid remote URL")
	// ErrBadDocument: the peer's identity document is malformed or over its bounds.
	ErrBadDocument = errors.New("invalid instance document")
)

// maxAnswer bounds what a peer may send back.
const maxAnswer = 1 << 20

// Timeout is the limit of one call to a peer (PROTOCOL.md / issue: 10 s).
const Timeout = 10 * time.Second

// Client calls peers.
type Client struct {
	http    *http.Client
	devMode bool
	ports   []int
}

// New returns a client for peers at the given ports (443 when none are
// given). devMode allows http, loopback/private addresses and any port, so
// instances on one machine can federate.
func New(devMode bool, ports ...int) *Client {
	if len(ports) == 0 {
		ports = []int{443}
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	if !devMode {
		dialer.Control = func(network, address string, _ syscall.RawConn) error {
			host, port, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			ip, err := netip.ParseAddr(host)
			if err != nil || !isPublic(ip) {
				return fmt.Errorf("%w: %s is not a public address", ErrBadURL, host)
			}
			if p, _ := strconv.Atoi(port); !slices.Contains(ports, p) {
				return fmt.Errorf("%w: port %s is not allowed", ErrBadURL, port)
			}
			return nil
		}
	}
	transport := &http.Transport{
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: Timeout,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
	}
	return &Client{
		devMode: devMode,
		ports:   ports,
		http: &http.Client{
			Transport: transport,
			Timeout:   Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse // a redirect is an answer, never followed
			},
		},
	}
}

// NormalizeURL checks a peer's base URL and returns it as scheme://authority.
// A trailing "/" or the federation base path is tolerated.
func (c *Client) NormalizeURL(ctx context.Context, raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%w: %q must look like https://fed.example.org", ErrBadURL, raw)
	}
	path := strings.TrimSuffix(u.Path, "/")
	if path != "" && path != routes.BasePath {
		return "", fmt.Errorf("%w: %q must be a scheme and authority only", ErrBadURL, raw)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && c.devMode:
	default:
		return "", fmt.Errorf("%w: %q must use https", ErrBadURL, raw)
	}
	if !c.devMode {
		port := 443
		if u.Port() != "" {
			port, _ = strconv.Atoi(u.Port())
		}
		if !slices.Contains(c.ports, port) {
			return "", fmt.Errorf("%w: %q uses port %d; allowed are %v", ErrBadURL, raw, port, c.ports)
		}
		addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", u.Hostname())
		if err != nil || len(addrs) == 0 {
			return "", fmt.Errorf("%w: cannot resolve %s", ErrBadURL, u.Hostname())
		}
		for _, a := range addrs {
			if !isPublic(a) {
				return "", fmt.Errorf("%w: %s resolves to a non-public address", ErrBadURL, u.Hostname())
			}
		}
	}
	return Origin(u), nil
}

// Origin is a URL's scheme and authority, lower-cased and without the
// scheme's default port: what identifies a peer (PROTOCOL.md §5).
// OriginOf is Origin of a stored URL ("" when it does not parse): the
// Peer dimension of metrics, the key of a peer's in-flight slots.
func OriginOf(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	return Origin(u)
}

func Origin(u *url.URL) string {
	scheme, host, port := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname()), u.Port()
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if port != "" {
		host = net.JoinHostPort(host, port)
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return scheme + "://" + host
}

// nonPublic are ranges no peer may be reached in besides the ones netip
// classifies: shared/benchmark/reserved IPv4 space, and the IPv6 ranges that
// embed or route to IPv4 (NAT64, 6to4, IPv4-compatible, Teredo), which could
// reach internal IPv4 addresses, plus deprecated site-local and documentation
// space.
var nonPublic = func() []netip.Prefix {
	var out []netip.Prefix
	for _, p := range []string{
		"100.64.0.0/10", "192.0.0.0/24", "198.18.0.0/15", "0.0.0.0/8", "240.0.0.0/4",
		"192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24",
		"64:ff9b::/96", "64:ff9b:1::/48", "2002::/16", "::/96", "2001::/32", "fec0::/10", "2001:db8::/32", "100::/64",
	} {
		out = append(out, netip.MustParsePrefix(p))
	}
	return out
}()

// isPublic rejects loopback, private, link-local, CGNAT, multicast,
// unspecified and the nonPublic addresses.
func isPublic(ip netip.Addr) bool {
	ip = ip.Unmap()
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsMulticast() || ip.IsUnspecified() || ip.IsInterfaceLocalMulticast() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// Reply is a peer's answer.
type Reply struct {
	Status     int
	Body       []byte
	RetryAfter time.Duration // from a Retry-After header, if any
}

// FetchInstance reads a peer's public identity (GET /instance).
func (c *Client) FetchInstance(ctx context.Context, baseURL string) (*identity.Document, error) {
	r, err := c.do(ctx, http.MethodGet, baseURL+routes.BasePath+"/instance", nil, federation.MaxDocumentBytes, ErrBadDocument)
	if err != nil {
		return nil, err
	}
	if r.Status != http.StatusOK {
		return nil, fmt.Errorf("%w: GET /instance answered %d", ErrUnreachable, r.Status)
	}
	var doc identity.Document
	if err := json.Unmarshal(r.Body, &doc); err != nil || doc.InstanceID == "" || len(doc.PublicKeys) == 0 {
		return nil, fmt.Errorf("%w: GET /instance did not return an instance document", ErrUnreachable)
	}
	if err := doc.Check(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadDocument, err)
	}
	return &doc, nil
}

// Post sends a signed envelope to a peer endpoint (path under the base path).
func (c *Client) Post(ctx context.Context, baseURL, path string, body []byte) (*Reply, error) {
	return c.do(ctx, http.MethodPost, baseURL+routes.BasePath+path, body, maxAnswer, ErrUnreachable)
}

// do makes one call; an answer over limit bytes is the error tooLarge.
func (c *Client) do(ctx context.Context, method, url string, body []byte, limit int, tooLarge error) (*Reply, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadURL, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "fedgate/1")
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
			return nil, fmt.Errorf("%w: %s", ErrTimeout, method+" "+url)
		}
		if errors.Is(err, ErrBadURL) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, int64(limit)+1))
	if err != nil {
		if isTimeout(err) {
			return nil, fmt.Errorf("%w: reading the answer", ErrTimeout)
		}
		return nil, fmt.Errorf("%w: reading the answer: %v", ErrUnreachable, err)
	}
	if len(data) > limit {
		return nil, fmt.Errorf("%w: answer larger than %d bytes", tooLarge, limit)
	}
	r := &Reply{Status: resp.StatusCode, Body: data}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		r.RetryAfter = RetryAfter(ra, time.Now())
	}
	return r, nil
}

// MaxRetryAfter caps what a peer's Retry-After can make a sender wait
// (PROTOCOL.md §1): a larger or malformed value counts as this.
const MaxRetryAfter = time.Hour

// RetryAfter reads a Retry-After header value (seconds or an HTTP date),
// clamped to MaxRetryAfter; a malformed value is MaxRetryAfter, so a peer
// cannot pause a sender for centuries nor overflow its clock.
func RetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 || secs > int64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), MaxRetryAfter)
	}
	return MaxRetryAfter
}

// ErrorClass names what kind of failure a call's error is, for attempt
// records (PROTOCOL.md §9): dns, connect, tls or timeout.
func ErrorClass(err error) string {
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var unknownAuthority x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalidCert x509.CertificateInvalidError
	var recordErr tls.RecordHeaderError
	var alert tls.AlertError
	switch {
	case errors.Is(err, ErrTimeout):
		return federation.ClassTimeout
	case errors.As(err, &dnsErr):
		return federation.ClassDNS
	case errors.As(err, &certErr), errors.As(err, &unknownAuthority), errors.As(err, &hostErr),
		errors.As(err, &invalidCert), errors.As(err, &recordErr), errors.As(err, &alert):
		return federation.ClassTLS
	}
	return federation.ClassConnect
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// ErrorCode extracts the PROTOCOL error code and message of a peer's error
// answer; without an error body both are "".
func ErrorCode(body []byte) (code, message string) {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil {
		return "", ""
	}
	return e.Error.Code, e.Error.Message
}

// Describe renders an error answer for messages and logs:
// "peer answered 403 command_not_allowed: …".
func (r *Reply) Describe() string {
	code, msg := ErrorCode(r.Body)
	if code == "" {
		return fmt.Sprintf("peer answered %d", r.Status)
	}
	return fmt.Sprintf("peer answered %d %s: %s", r.Status, code, msg)
}

// Failure is how a failed call to a peer is reported to the caller of a
// synchronous request: remote_timeout, remote_unreachable, or
// validation_failed for a URL that may not be called.
func Failure(err error) *federation.Error {
	switch {
	case errors.Is(err, ErrTimeout):
		return federation.Errorf(federation.CodeRemoteTimeout, "%v", err)
	case errors.Is(err, ErrBadURL):
		return federation.Invalidf("remoteUrl: %v", err)
	case errors.Is(err, ErrBadDocument):
		return federation.Invalidf("the remote %v", err)
	}
	return federation.Errorf(federation.CodeRemoteUnreachable, "%v", err)
}

// Rejected is how a peer's error answer is reported (remote_rejected).
func (r *Reply) Rejected() *federation.Error {
	return federation.Errorf(federation.CodeRemoteRejected, "%s", r.Describe())
}
