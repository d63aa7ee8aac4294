package store

import "strings"

// Index is a global secondary index (all attributes are strings).
type Index struct {
	Name         string
	PartitionKey string
	SortKey      string
}

// Table describes one DynamoDB table. Keys and index keys are strings.
type Table struct {
	Name         string // logical name, also the suffix of the physical name
	PartitionKey string
	SortKey      string
	Indexes      []Index
	TTLAttribute string // "" when items never expire
}

// Table names.
const (
	InstanceTable      = "instance"
	ConnectionsTable   = "connections"
	MessagesTable      = "messages"
	InvitesTable       = "invites"
	SubscriptionsTable = "subscriptions"
	AgentsTable        = "agents"
	LimitsTable        = "limits"
)

// Index names.
const (
	IndexConnectionsByStatus  = "byStatus"
	IndexConnectionsByCreated = "byCreated"
	IndexMessagesByType       = "byType"
	IndexMessagesOutbox       = "outbox"
	IndexMessagesDeadline     = "deadline"
	IndexMessagesHeld         = "held"
	IndexSubscriptionsFanout  = "fanout"
	IndexSubscriptionsByTime  = "byTime"
	IndexSubscriptionsSync    = "sync"
	IndexAgentsByTime         = "byTime"
	IndexAgentsWatch          = "watch"
)

// Tables lists every table fedgate uses, designed from its access patterns
// (ARCHITECTURE.md "Tables").
var Tables = []Table{
	{
		// One item: the identity, its capabilities and its (sealed) keys.
		Name:         InstanceTable,
		PartitionKey: "pk",
	},
	{
		// Connections by workspace, id pointers and liveness locks (connections.go).
		Name: ConnectionsTable, PartitionKey: "pk", SortKey: "sk",
		Indexes: []Index{
			{Name: IndexConnectionsByStatus, PartitionKey: "statusKey", SortKey: "connectionId"},
			// A workspace's connections newest first (PROTOCOL.md §5).
			{Name: IndexConnectionsByCreated, PartitionKey: "listKey", SortKey: "listSort"},
		},
	},
	{
		// Messages by workspace, incoming de-duplication records, outbox and
		// deadline markers (messages.go).
		Name: MessagesTable, PartitionKey: "pk", SortKey: "sk",
		Indexes: []Index{
			{Name: IndexMessagesByType, PartitionKey: "typeKey", SortKey: "createdKey"},
			{Name: IndexMessagesOutbox, PartitionKey: "outboxKey", SortKey: "outboxDue"},
			{Name: IndexMessagesDeadline, PartitionKey: "deadlineKey", SortKey: "deadlineAt"},
			// Deliveries held without attempts, by connection: released at once
			// when the peer asks (event.sync) or the connection resumes.
			{Name: IndexMessagesHeld, PartitionKey: "heldKey", SortKey: "sk"},
		},
		TTLAttribute: "expiresAt",
	},
	{
		// Subscriptions in both directions; the fan-out index holds the active
		// INBOUND ones by workspace and event family (subscriptions.go).
		Name: SubscriptionsTable, PartitionKey: "pk", SortKey: "sk",
		Indexes: []Index{
			{Name: IndexSubscriptionsFanout, PartitionKey: "fanKey", SortKey: "fanSort"},
			{Name: IndexSubscriptionsByTime, PartitionKey: "listKey", SortKey: "listSort"},
			{Name: IndexSubscriptionsSync, PartitionKey: "syncKey", SortKey: "syncDue"},
		},
	},
	{
		// The hub's records of agents on peers, and the agents run here for
		// peers with a watch index of the unfinished ones (agents.go).
		Name: AgentsTable, PartitionKey: "pk", SortKey: "sk",
		Indexes: []Index{
			{Name: IndexAgentsWatch, PartitionKey: "watchKey", SortKey: "watchAt"},
			{Name: IndexAgentsByTime, PartitionKey: "listKey", SortKey: "listSort"},
		},
	},
	{
		// Single-use invite tokens, keyed by their SHA-256.
		Name: InvitesTable, PartitionKey: "pk", TTLAttribute: "expiresAt",
	},
	{
		// Rate windows and peers' in-flight slots, shared by every
		// container (limits.go); all of it expires.
		Name: LimitsTable, PartitionKey: "pk", SortKey: "sk", TTLAttribute: "expiresAt",
	},
}

// Names maps logical table names to physical ones.
type Names map[string]string

// PrefixedNames names every table prefix+logical name, as the local runner
// and tests do (each instance or test gets its own prefix).
func PrefixedNames(prefix string) Names {
	n := Names{}
	for _, t := range Tables {
		n[t.Name] = prefix + t.Name
	}
	return n
}

// EnvVar is the environment variable that carries a table's physical name to
// a Lambda function, e.g. TABLE_INSTANCE.
func EnvVar(logical string) string {
	return "TABLE_" + strings.ToUpper(strings.ReplaceAll(logical, "-", "_"))
}
