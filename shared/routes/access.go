package routes

import (
	"fmt"
	"slices"
)

// UseKind is one kind of thing a function does with an AWS resource.
type UseKind string

// The kinds of use a row's Access grants.
const (
	ReadTable   UseKind = "read table"
	WriteTable  UseKind = "write table"
	SendQueue   UseKind = "send to queue"
	TakeQueue   UseKind = "receive from queue" // receive, delete, change visibility
	SealWithKey UseKind = "seal with the signing-key KMS key"
	OpenWithKey UseKind = "open with the signing-key KMS key"
	ReadSecret  UseKind = "read the orchestrator secret"
	Other       UseKind = "call"
)

// Use is one use of a resource: a table or queue by its shared/store or
// shared/queue name, a key or secret by kind alone, anything else by its
// service and operation.
type Use struct {
	Kind UseKind
	Name string
}

func (u Use) String() string { return fmt.Sprintf("%s %s", u.Kind, u.Name) }

// Permits reports whether the route's function may make use u: what its
// Access row grants, and consuming the queues that trigger it. The CDK
// grants each role exactly this, so a use the row does not permit is one
// the deployed function would be refused.
func (r Route) Permits(u Use) bool {
	a := r.Access
	switch u.Kind {
	case ReadTable:
		return slices.Contains(a.Tables(), u.Name)
	case WriteTable:
		return a.Writes(u.Name)
	case SendQueue:
		return slices.Contains(a.Send, u.Name)
	case TakeQueue:
		return slices.Contains(r.Queues, u.Name)
	case SealWithKey:
		return a.SigningKey >= SealKey
	case OpenWithKey:
		return a.SigningKey == SignWithKey
	case ReadSecret:
		return a.Secret
	}
	return false
}
