// Package awstest gives tests a moto_server endpoint and a unique resource
// prefix, so every test runs against the real AWS SDK and real (local)
// DynamoDB, SQS and KMS without sharing state with its neighbours.
package awstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/fedgate/fedgate/shared/localaws"
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
	return localaws.Config(Endpoint(t))
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
