package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

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
	dump := map[string][]map[string]any{}
	for _, t := range store.Tables {
		if t.Name == store.InstanceTable {
			continue
		}
		items, err := scanAll(ctx, inst.App.DB, inst.App.Config.Tables[t.Name])
		if err != nil {
			return err
		}
		for _, item := range items {
			dump[t.Name] = append(dump[t.Name], encodeItem(item))
		}
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
	var dump map[string][]map[string]any
	switch err := readJSON(filepath.Join(inst.stateDir, tablesFile), &dump); {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return err
	}
	for logical, items := range dump {
		table, ok := inst.App.Config.Tables[logical]
		if !ok {
			continue // a table this version no longer has
		}
		for _, raw := range items {
			item, err := decodeItem(raw)
			if err != nil {
				return fmt.Errorf("restore %s: %w", logical, err)
			}
			if _, err := inst.App.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
				return fmt.Errorf("restore %s: %w", logical, err)
			}
		}
	}
	return nil
}

func scanAll(ctx context.Context, db *dynamodb.Client, table string) ([]map[string]types.AttributeValue, error) {
	var items []map[string]types.AttributeValue
	p := dynamodb.NewScanPaginator(db, &dynamodb.ScanInput{TableName: aws.String(table)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("scan %s: %w", table, err)
		}
		items = append(items, page.Items...)
	}
	return items, nil
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
