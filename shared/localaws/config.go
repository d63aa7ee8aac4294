package localaws

import (
	"fmt"
	"net/http"
	"os"
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
		HTTPClient:       reportFailures{awshttp.NewBuildableClient()},
	}
}

// reportFailures writes every failed or 5xx round trip to moto_server (not
// those its caller cancelled) to stderr, which go test prints only for a
// failing package and make dev shows: the SDK retries such calls silently,
// and a retried write surfaces far away if anything mishandles it.
type reportFailures struct{ next aws.HTTPClient }

func (r reportFailures) Do(req *http.Request) (*http.Response, error) {
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
