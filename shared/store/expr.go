package store

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// update builds an UpdateItem expression from named changes. Attribute names
// may be paths ("health.circuit"); every segment is aliased, so reserved words
// such as "status" are safe.
type update struct {
	sets    map[string]any
	firsts  map[string]any // set only when absent (if_not_exists)
	appends map[string]any // lists whose items are appended (list_append)
	removes []string
	conds   []string
	names   map[string]string
	values  map[string]types.AttributeValue
	n       int
}

func newUpdate() *update {
	return &update{sets: map[string]any{}, firsts: map[string]any{}, appends: map[string]any{}, names: map[string]string{}, values: map[string]types.AttributeValue{}}
}

func (u *update) set(path string, v any) *update { u.sets[path] = v; return u }
func (u *update) remove(path string) *update     { u.removes = append(u.removes, path); return u }

// appendTo appends the items of list (a slice) to the list at path,
// starting it when absent.
func (u *update) appendTo(path string, list any) *update { u.appends[path] = list; return u }

// setFirst sets path to v only if the item has no value there yet.
func (u *update) setFirst(path string, v any) *update { u.firsts[path] = v; return u }
func (u *update) setIf(ok bool, path string, v any) *update {
	if ok {
		u.set(path, v)
	}
	return u
}

// name aliases a path: "health.circuit" → "#health.#circuit".
func (u *update) name(path string) string {
	parts := strings.Split(path, ".")
	for i, p := range parts {
		alias := "#" + strings.NewReplacer("-", "_").Replace(p)
		u.names[alias] = p
		parts[i] = alias
	}
	return strings.Join(parts, ".")
}

// value registers a placeholder for v.
func (u *update) value(v any) string {
	u.n++
	ph := fmt.Sprintf(":v%d", u.n)
	av, err := attributevalue.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("store: cannot encode %T: %v", v, err)) // only our own types reach here
	}
	u.values[ph] = av
	return ph
}

// cond adds a condition written with {path} and {=value} holes, e.g.
// u.cond("{status} = ?", "PENDING"), each "?" taking the next value.
func (u *update) cond(expr string, vals ...any) *update {
	out := expr
	for strings.Contains(out, "{") {
		i := strings.Index(out, "{")
		j := strings.Index(out[i:], "}") + i
		out = out[:i] + u.name(out[i+1:j]) + out[j+1:]
	}
	for _, v := range vals {
		out = strings.Replace(out, "?", u.value(v), 1)
	}
	u.conds = append(u.conds, out)
	return u
}

// in renders "{path} IN (?, ?, …)" for values (statuses of either kind).
func in[T ~string](u *update, path string, values []T) *update {
	ph := make([]string, len(values))
	args := make([]any, len(values))
	for i, v := range values {
		ph[i], args[i] = "?", string(v)
	}
	return u.cond("{"+path+"} IN ("+strings.Join(ph, ", ")+")", args...)
}

// build returns the update expression, the condition (or nil) and the maps.
func (u *update) build() (expr string, cond *string, names map[string]string, values map[string]types.AttributeValue) {
	var clauses []string
	if len(u.sets)+len(u.firsts)+len(u.appends) > 0 {
		var parts []string
		for _, p := range sortedKeys(u.sets) {
			parts = append(parts, u.name(p)+" = "+u.value(u.sets[p]))
		}
		for _, p := range sortedKeys(u.firsts) {
			n := u.name(p)
			parts = append(parts, n+" = if_not_exists("+n+", "+u.value(u.firsts[p])+")")
		}
		for _, p := range sortedKeys(u.appends) {
			n := u.name(p)
			parts = append(parts, n+" = list_append(if_not_exists("+n+", "+u.value([]any{})+"), "+u.value(u.appends[p])+")")
		}
		clauses = append(clauses, "SET "+strings.Join(parts, ", "))
	}
	if len(u.removes) > 0 {
		var parts []string
		for _, p := range u.removes {
			parts = append(parts, u.name(p))
		}
		clauses = append(clauses, "REMOVE "+strings.Join(parts, ", "))
	}
	if len(u.conds) > 0 {
		c := strings.Join(u.conds, " AND ")
		cond = &c
	}
	if len(u.values) == 0 {
		u.values = nil
	}
	return strings.Join(clauses, " "), cond, u.names, u.values
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// s is a string attribute value.
func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

// key builds a pk/sk key.
func key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": s(pk), "sk": s(sk)}
}

// getItem reads one item with a strongly consistent read and decodes it into
// v (json tags when jsonTagged); ErrNotFound, naming what, when it is absent.
// Every repository's single-item read goes through here.
func getItem(ctx context.Context, db *dynamodb.Client, table string, k map[string]types.AttributeValue, v any, what string, jsonTagged bool) error {
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, Key: k, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return fmt.Errorf("get %s: %w", what, err)
	}
	if out.Item == nil {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	if jsonTagged {
		err = attributevalue.UnmarshalMapWithOptions(out.Item, v, jsonTagsDec)
	} else {
		err = attributevalue.UnmarshalMap(out.Item, v)
	}
	if err != nil {
		return fmt.Errorf("decode %s: %w", what, err)
	}
	return nil
}

// maxItemSize keeps items well inside DynamoDB's 400 KB item limit (which
// counts attribute names and values), so an oversized write is refused here
// with ErrTooLarge rather than failing in DynamoDB.
const maxItemSize = 380 * 1024

// itemSize estimates an item's size as DynamoDB counts it: names and values.
func itemSize(item map[string]types.AttributeValue) int {
	n := 0
	for name, v := range item {
		n += len(name) + valueSize(v)
	}
	return n
}

func valueSize(v types.AttributeValue) int {
	switch x := v.(type) {
	case *types.AttributeValueMemberS:
		return len(x.Value)
	case *types.AttributeValueMemberN:
		return len(x.Value)
	case *types.AttributeValueMemberB:
		return len(x.Value)
	case *types.AttributeValueMemberM:
		return 3 + itemSize(x.Value)
	case *types.AttributeValueMemberL:
		n := 3
		for _, e := range x.Value {
			n += 1 + valueSize(e)
		}
		return n
	case *types.AttributeValueMemberSS:
		n := 0
		for _, e := range x.Value {
			n += len(e)
		}
		return n
	}
	return 1
}
