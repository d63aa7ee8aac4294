package awstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/fedgate/fedgate/shared/localaws"
	"github.com/fedgate/fedgate/shared/queue"
	"github.com/fedgate/fedgate/shared/store"
)

var (
	once     sync.Once
	endpoint string
	startErr error
)

// Endpoint returns the moto_server URL: AWS_ENDPOINT_URL when set (make test
// starts one server for all packages), otherwise a server this test binary
// starts on first use and that dies with it.
func Endpoint(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		if url := os.Getenv("AWS_ENDPOINT_URL"); url != "" {
			endpoint = url
			return
		}
		srv, err := localaws.Start(context.Background(), os.DevNull)
		if err != nil {
			startErr = err
			return
		}
		endpoint = srv.URL
	})
	if startErr != nil {
		t.Fatalf("local AWS server: %v", startErr)
	}
	return endpoint
}

// Config returns an SDK configuration for the test's moto_server.
func Config(t testing.TB) aws.Config {
	t.Helper()
	cfg := localaws.Config(Endpoint(t))
	cfg.HTTPClient = reportFailures{awshttp.NewBuildableClient()}
	return cfg
}

// reportFailures writes every failed or 5xx round trip to moto_server (not
// those its caller cancelled) to stderr, which go test prints only for a
// failing package: the SDK retries such calls silently, and a retried
// conditional write that had been applied surfaces far away as "already
// exists" or a conflict.
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
		fmt.Fprintf(os.Stderr, "awstest: %s %s: %v\n", time.Now().Format(time.StampMicro), op, err)
	case resp.StatusCode >= 500:
		fmt.Fprintf(os.Stderr, "awstest: %s %s: status %d\n", time.Now().Format(time.StampMicro), op, resp.StatusCode)
	}
	return resp, err
}

// Prefix returns a fresh resource name prefix such as "t3f9a1c2e-".
func Prefix(t testing.TB) string {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "t" + hex.EncodeToString(b) + "-"
}

// Store returns the repositories over fresh tables (its own prefix), for
// tests of the layers below the app.
func Store(t testing.TB) *store.Store {
	t.Helper()
	cfg := Config(t)
	names := store.PrefixedNames(Prefix(t))
	if err := store.CreateTables(context.Background(), cfg, names); err != nil {
		t.Fatalf("create tables: %v", err)
	}
	return store.Open(cfg, names, store.Retention{Messages: 30 * 24 * time.Hour, Answers: 48 * time.Hour})
}

// Queues creates fresh work queues with their DLQs and returns their URLs.
func Queues(t testing.TB) queue.URLs {
	t.Helper()
	urls, _, err := queue.Create(context.Background(), sqs.NewFromConfig(Config(t)), Prefix(t), 5*time.Second)
	if err != nil {
		t.Fatalf("create queues: %v", err)
	}
	return urls
}

// KMSKey creates a fresh KMS key and returns its id.
func KMSKey(t testing.TB) string {
	t.Helper()
	out, err := kms.NewFromConfig(Config(t)).CreateKey(context.Background(), &kms.CreateKeyInput{Description: aws.String(t.Name())})
	if err != nil {
		t.Fatalf("create KMS key: %v", err)
	}
	return aws.ToString(out.KeyMetadata.KeyId)
}
