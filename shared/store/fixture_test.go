package store_test

import (
	"testing"

	"github.com/fedgate/fedgate/shared/localaws/awstest"
	"github.com/fedgate/fedgate/shared/store"
)

// openStore gives a test its own tables in moto_server (a fresh prefix), so
// tests run in parallel without seeing each other's items.
func openStore(t *testing.T) *store.Store { return awstest.Store(t) }
