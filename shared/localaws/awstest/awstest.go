package awstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
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
// starts on first use and that dies with it. Under go test -short (make
// unit) it skips the test instead, and nothing is started: every test that
// needs moto gets it here, directly or through Config, Store, Queues or
// KMSKey, so -short runs exactly the tests that need no local AWS server.
func Endpoint(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("needs moto_server; skipped under -short (make unit)")
	}
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
