package localaws

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Region is the region every local resource lives in; moto accepts any.
const Region = "us-east-1"

// Config returns an SDK configuration that talks to the server at endpoint
// with static dummy credentials, never touching instance metadata.
func Config(endpoint string) aws.Config {
	return aws.Config{
		Region:       Region,
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
		// moto answers quickly or not at all; the SDK's default retries only
		// slow a failing test down.
		RetryMaxAttempts: 2,
		HTTPClient:       reportFailures{sharedClient()},
	}
}

// sharedClient is the one HTTP client of every SDK configuration for moto in
// this process. moto keeps connections alive (the launcher), and one pool
// lets every store, queue and test reuse them; a pool per Config would dial
// anew for each and leave idle connections behind, each a parked thread in
// moto. The pool keeps up to 256 idle connections, the SDK's default of 10
// being far below the calls a cluster has in flight (each instance's pollers
// alone hold 16 long polls), so bursts would still close and re-dial.
var sharedClient = sync.OnceValue(func() aws.HTTPClient {
	return awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.MaxIdleConns = 256
		tr.MaxIdleConnsPerHost = 256
	})
})

// reportFailures writes every failed or 5xx round trip to moto_server (not
// those its caller cancelled) to stderr, which go test prints only for a
// failing package and make dev shows: the SDK retries such calls silently,
// and a retried write surfaces far away if anything mishandles it.
type reportFailures struct{ next aws.HTTPClient }

func (r reportFailures) Do(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		req = req.WithContext(req.Context())
		req.Body = readOnly{req.Body}
	}
	resp, err := r.next.Do(req)
	op := req.Header.Get("X-Amz-Target")
	if op == "" {
		op = req.Method + " " + req.URL.Path
	}
	switch {
	case err != nil && req.Context().Err() != nil:
		// the caller gave up (a poller stopping): not a failure of the call
	case err != nil:
		fmt.Fprintf(os.Stderr, "localaws: %s %s: %v\n", time.Now().Format(time.StampMicro), op, err)
	case resp.StatusCode >= 500:
		fmt.Fprintf(os.Stderr, "localaws: %s %s: status %d\n", time.Now().Format(time.StampMicro), op, resp.StatusCode)
	}
	return resp, err
}

// readOnly hides a request body's WriteTo. net/http writes a body with a
// known length straight to the connection and then reads once more to check
// that it ended; the SDK closes the body as soon as the answer has come, and
// its closed body answers WriteTo with io.EOF, which net/http takes for a
// failed read: it closes the connection under the answer being read ("use
// of closed network connection", the call retried). A server on loopback
// that keeps connections alive answers fast enough to win that race; Read
// on a closed body reports a clean end instead.
type readOnly struct{ io.ReadCloser }
