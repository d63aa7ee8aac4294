package store_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fedgate/fedgate/shared/localaws/awstest"
	"github.com/fedgate/fedgate/shared/store"
)

func newInstanceRepo(t *testing.T) *store.Instance {
	t.Helper()
	cfg := awstest.Config(t)
	names := store.PrefixedNames(awstest.Prefix(t))
	if err := store.CreateTables(context.Background(), cfg, names); err != nil {
		t.Fatal(err)
	}
	// Creating again is a no-op, so restarts of the local runner are safe.
	if err := store.CreateTables(context.Background(), cfg, names); err != nil {
		t.Fatalf("second CreateTables: %v", err)
	}
	return store.Open(cfg, names, store.Retention{Messages: time.Hour}).Instance
}

func TestInstanceRepository(t *testing.T) {
	ctx := context.Background()
	repo := newInstanceRepo(t)
	if _, err := repo.Get(ctx); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get before create: %v, want ErrNotFound", err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	rec := &store.InstanceRecord{
		InstanceID: "i-1", Name: "hub", CommandTypes: []string{"agent.spawn"}, EventTypes: []string{},
		Metadata: `{"region":"eu"}`, CreatedAt: now, UpdatedAt: now,
		Keys: []store.KeyRecord{{KeyID: "k1", Alg: "EdDSA", PublicKey: "pem", Status: "current", CreatedAt: now}},
	}
	if err := repo.Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := repo.Create(ctx, &store.InstanceRecord{InstanceID: "i-2"}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("second Create: %v, want ErrExists", err)
	}
	got, err := repo.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.InstanceID != "i-1" || got.Version != 1 || got.Metadata != `{"region":"eu"}` ||
		len(got.Keys) != 1 || got.Keys[0].KeyID != "k1" || !got.CreatedAt.Equal(now) {
		t.Fatalf("stored %+v", got)
	}

	// Optimistic locking: of many concurrent updates from the same read,
	// exactly one wins; the rest get ErrConflict.
	var wins, conflicts atomic.Int32
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := *got
			c.Name = "name-" + string(rune('a'+i))
			switch err := repo.Update(ctx, &c); {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, store.ErrConflict):
				conflicts.Add(1)
				if c.Version != got.Version {
					t.Errorf("failed update changed the version to %d", c.Version)
				}
			default:
				t.Errorf("Update: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 || conflicts.Load() != 19 {
		t.Fatalf("%d wins and %d conflicts, want 1 and 19", wins.Load(), conflicts.Load())
	}
	final, _ := repo.Get(ctx)
	if final.Version != 2 {
		t.Errorf("version %d after one update, want 2", final.Version)
	}
}
