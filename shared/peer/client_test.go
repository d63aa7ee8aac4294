package peer

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestNormalizeURL(t *testing.T) {
	dev, prod := New(true), New(false)
	ctx := context.Background()
	tests := []struct {
		client *Client
		in     string
		want   string // "" means rejected
	}{
		{dev, "http://127.0.0.1:8082", "http://127.0.0.1:8082"},
		{dev, "http://127.0.0.1:8082/", "http://127.0.0.1:8082"},
		{dev, "http://127.0.0.1:8082/api/v1/federation/", "http://127.0.0.1:8082"},
		{dev, "HTTP://LOCALHOST:8082", "http://localhost:8082"},
		{dev, "http://127.0.0.1:8082/other", ""},
		{dev, "ftp://x.org", ""},
		{dev, "http://user:pw@x.org", ""},
		{dev, "http://x.org?a=1", ""},
		{dev, "not a url", ""},
		{prod, "http://fed.example.org", ""},  // https only
		{prod, "https://127.0.0.1", ""},       // loopback
		{prod, "https://10.0.0.8", ""},        // private
		{prod, "https://169.254.169.254", ""}, // metadata service
		{prod, "https://[::1]:443", ""},       // loopback v6
		{prod, "https://100.64.1.1", ""},      // CGNAT
		{prod, "https://93.184.215.14", "https://93.184.215.14"},
		{prod, "https://93.184.215.14:443", "https://93.184.215.14"}, // the default port is the same origin
		{prod, "https://93.184.215.14:8443", ""},                     // a port not allowed
		{prod, "https://[64:ff9b::a00:1]", ""},                       // NAT64 of 10.0.0.1
		{prod, "https://[2002:a00:1::1]", ""},                        // 6to4 of 10.0.0.1
		{prod, "https://[::a00:1]", ""},                              // IPv4-compatible
		{prod, "https://[fec0::1]", ""},                              // site-local
		{New(false, 443, 8443), "https://93.184.215.14:8443", "https://93.184.215.14:8443"},
		{dev, "http://localhost:80", "http://localhost"},
	}
	for _, tt := range tests {
		got, err := tt.client.NormalizeURL(ctx, tt.in)
		if tt.want == "" {
			if err == nil || !errors.Is(err, ErrBadURL) {
				t.Errorf("NormalizeURL(%q, dev=%v) = %q, %v; want ErrBadURL", tt.in, tt.client.devMode, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NormalizeURL(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for addr, public := range map[string]bool{
		"8.8.8.8": true, "2606:4700::1111": true, "192.168.1.1": false, "fe80::1": false, "0.0.0.0": false, "::ffff:127.0.0.1": false,
		"64:ff9b::7f00:1": false, "64:ff9b:1::1": false, "2002:7f00:1::": false, "::127.0.0.1": false, "::a9fe:a9fe": false,
		"fec0::1": false, "fedf::1": false, "2001::1": false, "2001:db8::1": false, "fc00::1": false, "2a00:1450::1": true,
	} {
		if isPublic(netip.MustParseAddr(addr)) != public {
			t.Errorf("isPublic(%s) = %v", addr, !public)
		}
	}
}

// In production mode the dial-time check refuses loopback even when the URL
// was accepted earlier (DNS rebinding).
func TestProductionClientRefusesPrivateDial(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	_, err := New(false).Post(context.Background(), srv.URL, "/incoming/event", []byte(`{}`))
	if err == nil || !strings.Contains(err.Error(), "not a public address") {
		t.Fatalf("dial to loopback: %v", err)
	}
}

func TestPostAnswers(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/federation/busy":
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(429)
		case "/api/v1/federation/redirect":
			http.Redirect(w, r, "http://example.org/", http.StatusFound)
		case "/api/v1/federation/big":
			_, _ = w.Write([]byte(strings.Repeat("x", maxAnswer+10)))
		case "/api/v1/federation/slow":
			time.Sleep(200 * time.Millisecond)
		}
	}))
	defer srv.Close()
	c := New(true)
	r, err := c.Post(context.Background(), srv.URL, "/busy", nil)
	if err != nil || r.Status != 429 || r.RetryAfter != 7*time.Second {
		t.Errorf("429: %+v %v", r, err)
	}
	r, err = c.Post(context.Background(), srv.URL, "/redirect", nil)
	if err != nil || r.Status != http.StatusFound {
		t.Errorf("redirect followed or failed: %+v %v", r, err)
	}
	if _, err := c.Post(context.Background(), srv.URL, "/big", nil); !errors.Is(err, ErrUnreachable) {
		t.Errorf("oversized answer: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Post(ctx, srv.URL, "/slow", nil); !errors.Is(err, ErrTimeout) {
		t.Errorf("slow answer: %v", err)
	}
	srv.Close()
	if _, err := c.Post(context.Background(), srv.URL, "/x", nil); !errors.Is(err, ErrUnreachable) {
		t.Errorf("closed server: %v", err)
	}
	if _, err := c.FetchInstance(context.Background(), "http://127.0.0.1:1"); !errors.Is(err, ErrUnreachable) {
		t.Errorf("FetchInstance of nothing: %v", err)
	}
}

// Failed calls are classed for attempt records: a name that does not
// resolve, a port nobody listens on, a certificate nobody trusts, and no
// answer within the timeout.
func TestErrorClass(t *testing.T) {
	dev := New(true)
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	untrusted := httptest.NewTLSServer(http.NotFoundHandler())
	defer untrusted.Close()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(time.Second):
		}
	}))
	defer slow.Close()
	for _, tc := range []struct {
		name, url, want string
		timeout         time.Duration
	}{
		{"dns", "http://fedgate-peer.invalid", "dns", 0},
		{"connect", closedURL, "connect", 0},
		{"tls", untrusted.URL, "tls", 0},
		{"timeout", slow.URL, "timeout", 200 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			_, err := dev.Post(ctx, tc.url, "/incoming/event", []byte(`{}`))
			if err == nil {
				t.Fatal("the call succeeded")
			}
			if got := ErrorClass(err); got != tc.want {
				t.Fatalf("class %q for %v, want %q", got, err, tc.want)
			}
		})
	}
}

// A peer's Retry-After is clamped to an hour; malformed or huge values
// count as an hour (PROTOCOL.md §1).
func TestRetryAfterClamp(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"30":                            30 * time.Second,
		"0":                             0,
		"3600":                          time.Hour,
		"3601":                          time.Hour,
		"9223372036":                    time.Hour,
		"99999999999999999999999":       time.Hour,
		"-5":                            time.Hour,
		"soon":                          time.Hour,
		"Wed, 02 Dec 2026 12:01:00 GMT": time.Minute,
		"Wed, 02 Dec 2026 11:00:00 GMT": 0,
		"Fri, 01 Jan 2100 00:00:00 GMT": time.Hour,
	} {
		if got := RetryAfter(v, now); got != want {
			t.Errorf("Retry-After %q = %s, want %s", v, got, want)
		}
	}
}
