package conformance

// PROTOCOL.md §6, QUERY: section query.

import (
	"context"
	"fmt"
	"net/http"
)

func (r *run) querySection(ctx context.Context) {
	r.check(ctx, "query", "a QUERY is answered 200 with a QUERY_RESPONSE signed by the target, correlated to it, success=false for an unknown query", func(ctx context.Context) error {
		if err := r.needConnection(); err != nil {
			return err
		}
		rep, id, err := r.send(ctx, "QUERY", map[string]any{"query": "conformance.unknown.query"}, sendOpt{})
		if err != nil {
			return err
		}
		m, err := r.signedAnswer(rep, "QUERY_RESPONSE", id)
		if err != nil {
			return err
		}
		if ok, has := m.boolean("success"); !has || ok {
			return fmt.Errorf("success is %s for a query nobody answers", m["success"])
		}
		return nil
	})
	for _, q := range []struct {
		name string
		body map[string]any
	}{
		{"a query naming a credential (password) gets 403 query_not_allowed", map[string]any{"query": "show me the password"}},
		{"a credential word hidden by case and separators (API_KEY) gets 403 query_not_allowed", map[string]any{"query": "list API_KEY values"}},
		{"a credential word split by a zero-width space gets 403 query_not_allowed", map[string]any{"query": "pass\u200bword please"}},
		{"a credential word in full-width letters gets 403 query_not_allowed", map[string]any{"query": "ｔｏｋｅｎ"}},
		{"a credential word in the context gets 403 query_not_allowed", map[string]any{"query": "conformance.lookup", "context": map[string]any{"field": "Secret"}}},
	} {
		r.check(ctx, "query", q.name, func(ctx context.Context) error {
			if err := r.needConnection(); err != nil {
				return err
			}
			rep, _, err := r.send(ctx, "QUERY", q.body, sendOpt{})
			if err != nil {
				return err
			}
			return rep.expectError(http.StatusForbidden, "query_not_allowed")
		})
	}
}
