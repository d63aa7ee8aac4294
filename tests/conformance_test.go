package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fedgate/fedgate/infra/conformance"
	"github.com/fedgate/fedgate/shared/routes"
)

// runConformance runs the suite against target with a fedgate:admin token of
// a fresh workspace; answers from the target are checked against the
// OpenAPI document on the way.
func runConformance(t *testing.T, target string, sections ...string) *conformance.Report {
	t.Helper()
	hc := &http.Client{Timeout: 30 * time.Second, Transport: validatingTransport{t: t, base: http.DefaultTransport}}
	var lines []string
	report, err := conformance.Run(t.Context(), conformance.Options{
		Target: target, Token: token(t, "conformance-"+strings.ToLower(t.Name()), routes.ScopeAdmin), Dev: true,
		HTTP: hc, Wait: 30 * time.Second, Sections: sections,
		OnResult: func(r conformance.Result) { lines = append(lines, r.Line()) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("\n%s\n%s", strings.Join(lines, "\n"), report.Summary())
	}
	return report
}

// The conformance suite passes against a fedgate spoke.
func TestConformanceOfASpoke(t *testing.T) {
	t.Parallel()
	c := clusterWith(t, fastRetries, "spoke")
	report := runConformance(t, c.Instances["spoke"].URL)
	if report.Failed > 0 || report.Passed < 40 {
		t.Fatalf("%s; failed: %v", report.Summary(), report.Failures())
	}
	t.Log(report.Summary())
}

// Without --dev the suite refuses a target on http or loopback.
func TestConformanceRefusesADevTargetWithoutDev(t *testing.T) {
	t.Parallel()
	_, err := conformance.Run(context.Background(), conformance.Options{Target: "http://127.0.0.1:1", Token: "x"})
	if err == nil || !strings.Contains(err.Error(), "--dev") {
		t.Fatalf("err %v", err)
	}
}

// brokenTarget is a fedgate spoke behind a proxy that breaks one thing.
func brokenTarget(t *testing.T, spokeURL string, breakAnswer func(req *http.Request, status int, body []byte) []byte) string {
	t.Helper()
	u, _ := url.Parse(spokeURL)
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.ModifyResponse = func(resp *http.Response) error {
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		body = breakAnswer(resp.Request, resp.StatusCode, body)
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Del("Content-Length")
		return nil
	}
	srv := httptest.NewServer(proxy)
	t.Cleanup(srv.Close)
	return srv.URL
}

// A target that breaks the protocol fails the suite, naming the check.
func TestConformanceCatchesBrokenTargets(t *testing.T) {
	t.Parallel()
	c := clusterWith(t, fastRetries, "spoke")
	spoke := c.Instances["spoke"].URL
	tests := []struct {
		name     string
		sections []string
		breaks   func(req *http.Request, status int, body []byte) []byte
		failing  string // section: name of the check that must fail
	}{
		{"bad signature on CONNECT_RESPONSE", []string{"handshake"},
			func(req *http.Request, status int, body []byte) []byte {
				if strings.HasSuffix(req.URL.Path, "/incoming/connect") && status == http.StatusOK {
					return bytes.Replace(body, []byte(`"accepted":true`), []byte(`"accepted":true,"x":1`), 1)
				}
				return body
			},
			"handshake: the CONNECT_RESPONSE is signed by a key the target publishes, fresh, addressed to this peer on this connection"},
		{"wrong error code", []string{"verification"},
			func(_ *http.Request, _ int, body []byte) []byte {
				return bytes.ReplaceAll(body, []byte(`"code":"stale_timestamp"`), []byte(`"code":"invalid_signature"`))
			},
			"verification: a timestamp 10 minutes old gets 401 stale_timestamp"},
		{"non-idempotent duplicate", []string{"duplicates"}, func() func(*http.Request, int, []byte) []byte {
			var mu sync.Mutex
			seen := map[string]bool{}
			return func(req *http.Request, _ int, body []byte) []byte {
				if !strings.HasSuffix(req.URL.Path, "/incoming/query") {
					return body
				}
				var answer struct{ CorrelationID string }
				_ = json.Unmarshal(body, &answer)
				mu.Lock()
				defer mu.Unlock()
				if seen[answer.CorrelationID] {
					return bytes.Replace(body, []byte(`{`), []byte(`{"again":true,`), 1) // the duplicate's outcome differs
				}
				seen[answer.CorrelationID] = true
				return body
			}
		}(), "duplicates: a QUERY sent twice gets the same outcome, a signed answer signed afresh"},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			report, err := conformance.Run(t.Context(), conformance.Options{
				Target: brokenTarget(t, spoke, tt.breaks), Token: token(t, "broken-"+strings.ReplaceAll(tt.name, " ", "-"), routes.ScopeAdmin),
				Dev: true, Wait: 20 * time.Second, Sections: tt.sections,
			})
			if err != nil {
				t.Fatal(err)
			}
			failures := report.Failures()
			found := false
			for _, f := range failures {
				found = found || f == tt.failing
			}
			if !found {
				t.Errorf("%s: want failing %q, failures %v", report.Summary(), tt.failing, failures)
			}
		})
	}
}
