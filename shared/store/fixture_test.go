package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/fedgate/fedgate/shared/localaws/awstest"
	"github.com/fedgate/fedgate/shared/store"
)

// openStore gives a test its own tables in moto_server (a fresh prefix), so
// tests run in parallel without seeing each other's items.
func openStore(t *testing.T) *store.Store {
	t.Helper()
	cfg := awstest.Config(t)
	names := store.PrefixedNames(awstest.Prefix(t))
	if err := store.CreateTables(context.Background(), cfg, names); err != nil {
		t.Fatal(err)
	}
	return store.Open(cfg, names, 30*24*time.Hour)
}
