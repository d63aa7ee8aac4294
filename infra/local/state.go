package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/fedgate/fedgate/shared/identity"
	"github.com/fedgate/fedgate/shared/store"
)

// moto_server keeps everything in memory, so the runner keeps each instance's
// state in files under its state directory and loads it into a fresh server
// on start: the identity as an escrow (its KMS key dies with the server, so
// the private keys are re-sealed under the new one) and every other table as
// DynamoDB JSON items. Messages still in queues are not kept.

const (
	identityFile = "identity.json"
	tablesFile   = "tables.json"
)

// saveState writes inst's identity and tables to its state directory.
func saveState(ctx context.Context, inst *Instance) error {
	if inst.stateDir == "" {
		return nil
	}
	if err := os.MkdirAll(inst.stateDir, 0o700); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	escrow, err := inst.App.Identity.Export(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(inst.stateDir, identityFile), escrow); err != nil {
		return err
	}
	var tables []string
	for _, t := range store.Tables {
		if t.Name != store.InstanceTable {
			tables = append(tables, t.Name)
		}
	}
	dump, err := inst.App.Store.Dump(ctx, tables...)
	if err != nil {
		return err
	}
	return writeJSON(filepath.Join(inst.stateDir, tablesFile), dump)
}

// loadState restores what saveState wrote, if anything.
func loadState(ctx context.Context, inst *Instance) error {
	if inst.stateDir == "" {
		return nil
	}
	var escrow identity.Escrow
	switch err := readJSON(filepath.Join(inst.stateDir, identityFile), &escrow); {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return err
	}
	if err := inst.App.Identity.Import(ctx, escrow); err != nil && !errors.Is(err, store.ErrExists) {
		return err
	}
	var dump store.Dump
	switch err := readJSON(filepath.Join(inst.stateDir, tablesFile), &dump); {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return err
	}
	return inst.App.Store.Restore(ctx, dump)
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return os.Rename(tmp, path) // atomic: a crash never leaves half a file
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode %s: %w", path, err)
	}
	return nil
}
