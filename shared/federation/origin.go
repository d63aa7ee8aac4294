package federation

import (
	"net"
	"net/url"
	"strings"

	"golang.org/x/net/idna"
)

// Origin returns raw's origin as the WHATWG URL standard serializes it —
// lower-case scheme and host, the host in punycode, the scheme's default port
// omitted — or false when raw is not an origin: another scheme, a path, user
// info, a query, a fragment or a host with a trailing dot (PROTOCOL.md §4:
// an instance is its origin, and toUrl names it).
func Origin(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" ||
		strings.HasSuffix(raw, "?") || strings.HasSuffix(raw, "#") {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "https" && scheme != "http" {
		return "", false
	}
	host, port := u.Hostname(), u.Port()
	if host == "" || strings.HasSuffix(host, ".") {
		return "", false
	}
	if ip := net.ParseIP(host); ip == nil {
		ascii, err := idna.Lookup.ToASCII(host)
		if err != nil {
			return "", false
		}
		host = strings.ToLower(ascii)
	} else if strings.Contains(host, ":") {
		host = "[" + ip.String() + "]"
	} else {
		host = ip.String()
	}
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host, true
}

// SameOrigin reports whether a and b name one origin.
func SameOrigin(a, b string) bool {
	oa, ok := Origin(a)
	ob, ok2 := Origin(b)
	return ok && ok2 && oa == ob
}
