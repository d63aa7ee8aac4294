package local

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"

	"github.com/fedgate/fedgate/shared/queue"
	"github.com/fedgate/fedgate/shared/routes"
	"github.com/fedgate/fedgate/shared/store"
	"github.com/fedgate/fedgate/shared/trace"
)

// accessLog records every AWS call an instance's functions make, by function
// (the "function" label the handlers put on their context), so a run shows
// whether each function kept to what its route row grants: least privilege
// proven by behaviour, not only by reading the CDK's policies. Calls made
// outside any function (the runner's own start, its pollers' receives and
// deletes) are not attributed.
type accessLog struct {
	tables map[string]string // physical table name → shared/store name
	queues map[string]string // queue URL → shared/queue name

	mu   sync.Mutex
	uses map[string]map[routes.Use]bool // function → uses
}

func newAccessLog(tables store.Names, urls queue.URLs) *accessLog {
	l := &accessLog{tables: map[string]string{}, queues: map[string]string{}, uses: map[string]map[routes.Use]bool{}}
	for name, physical := range tables {
		l.tables[physical] = name
	}
	for name, url := range urls {
		l.queues[url] = name
	}
	return l
}

// watch adds the recording middleware to an SDK configuration.
func (l *accessLog) watch(cfg *aws.Config) {
	cfg.APIOptions = append(slices.Clip(cfg.APIOptions), func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("fedgate-access-log",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				if fn := trace.Label(ctx, "function"); fn != "" {
					l.record(fn, awsmiddleware.GetServiceID(ctx), awsmiddleware.GetOperationName(ctx), in.Parameters)
				}
				return next.HandleInitialize(ctx, in)
			}), middleware.After)
	})
}

// record notes the uses one call makes.
func (l *accessLog) record(fn, service, op string, params any) {
	var uses []routes.Use
	switch service {
	case "DynamoDB":
		kind := routes.WriteTable
		if slices.Contains([]string{"GetItem", "Query", "Scan", "BatchGetItem", "DescribeTable"}, op) {
			kind = routes.ReadTable
		}
		for _, t := range stringsNamed(params, "TableName") {
			uses = append(uses, routes.Use{Kind: kind, Name: l.named(l.tables, t)})
		}
	case "SQS":
		kind := routes.TakeQueue
		if strings.HasPrefix(op, "SendMessage") {
			kind = routes.SendQueue
		}
		for _, u := range stringsNamed(params, "QueueUrl") {
			uses = append(uses, routes.Use{Kind: kind, Name: l.named(l.queues, u)})
		}
	case "KMS":
		kind := routes.SealWithKey
		if op == "Decrypt" {
			kind = routes.OpenWithKey
		}
		uses = append(uses, routes.Use{Kind: kind})
	case "Secrets Manager":
		uses = append(uses, routes.Use{Kind: routes.ReadSecret})
	default:
		uses = append(uses, routes.Use{Kind: routes.Other, Name: service + " " + op})
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.uses[fn] == nil {
		l.uses[fn] = map[routes.Use]bool{}
	}
	for _, u := range uses {
		l.uses[fn][u] = true
	}
}

func (l *accessLog) named(names map[string]string, physical string) string {
	if n, ok := names[physical]; ok {
		return n
	}
	return physical // another instance's or an unknown resource: never granted
}

// Violations lists every use a function made that its route row does not
// permit, sorted.
func (l *accessLog) Violations() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for fn, uses := range l.uses {
		r, ok := routes.ByName(fn)
		for u := range uses {
			if !ok || !r.Permits(u) {
				out = append(out, fmt.Sprintf("%s: %s (not in its row in shared/routes)", fn, u))
			}
		}
	}
	sort.Strings(out)
	return out
}

// stringsNamed collects the values of every string field called name in v,
// however deep (a transaction names a table per item).
func stringsNamed(v any, name string) []string {
	var out []string
	var walk func(reflect.Value, int)
	walk = func(rv reflect.Value, depth int) {
		if depth > 6 || !rv.IsValid() {
			return
		}
		switch rv.Kind() {
		case reflect.Pointer, reflect.Interface:
			if !rv.IsNil() {
				walk(rv.Elem(), depth)
			}
		case reflect.Struct:
			for i := range rv.NumField() {
				f := rv.Type().Field(i)
				if !f.IsExported() {
					continue
				}
				switch {
				case f.Name == name:
					if s, ok := rv.Field(i).Interface().(*string); ok && s != nil {
						out = append(out, *s)
					}
				case f.Name == "RequestItems" && name == "TableName":
					// BatchWriteItem / BatchGetItem name their tables as keys.
					for _, k := range rv.Field(i).MapKeys() {
						out = append(out, k.String())
					}
				default:
					walk(rv.Field(i), depth+1)
				}
			}
		case reflect.Slice, reflect.Array:
			for i := range rv.Len() {
				walk(rv.Index(i), depth+1)
			}
		}
	}
	walk(reflect.ValueOf(v), 0)
	return out
}
