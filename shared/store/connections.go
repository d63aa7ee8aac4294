package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/fedgate/fedgate/shared/federation"
)

// The connections table holds three kinds of items:
//   - the connection:   pk "WS#<workspace>", sk "CONN#<id>"
//   - its id pointer:   pk "CONNID#<id>",   sk "CONNID"  → workspace; makes ids unique
//     across workspaces and lets signed endpoints (which know only the id) find it
//     with strongly consistent reads
//   - a liveness lock:  pk "WS#<workspace>", sk "REMOTE#<remote origin>" → id;
//     exists while a live connection to that origin exists, so there is at most one
//     per workspace (a peer is its origin; the instance id it claims is only a name)
//   - pending counters: pk "PENDING#<origin>" and "PENDING#ALL", sk "COUNT" → n;
//     how many INBOUND PENDING connections there are, bounded by PendingSlot.
// Every read a user can cause is keyed by the caller's workspace.

func wsPK(workspace string) string { return "WS#" + workspace }
func connSK(id string) string      { return "CONN#" + id }
func lockSK(remote string) string  { return "REMOTE#" + remote }
func idPK(id string) string        { return "CONNID#" + id }

const (
	countSK        = "COUNT"
	pendingTotalPK = "PENDING#ALL"
)

func pendingPK(origin string) string { return "PENDING#" + origin }

const idSK = "CONNID"

// Connections is the repository of the connections table.
type Connections struct {
	db    *dynamodb.Client
	table string
	now   func() time.Time
}

type connectionItem struct {
	PK                 string                `dynamodbav:"pk"`
	SK                 string                `dynamodbav:"sk"`
	StatusKey          string                `dynamodbav:"statusKey"` // GSI byStatus: "WS#<ws>#<STATUS>"
	ListKey            string                `dynamodbav:"listKey"`   // GSI byCreated: "WS#<ws>", newest first
	ListSort           string                `dynamodbav:"listSort"`  // "<created ms>#<id>"
	ID                 string                `dynamodbav:"connectionId"`
	WorkspaceID        string                `dynamodbav:"workspaceId"`
	RemoteInstanceID   string                `dynamodbav:"remoteInstanceId"`
	RemoteURL          string                `dynamodbav:"remoteUrl"`
	RemoteName         string                `dynamodbav:"remoteName"`
	Direction          string                `dynamodbav:"direction"`
	Status             federation.ConnStatus `dynamodbav:"status"`
	RemoteCapabilities []byte                `dynamodbav:"remoteCapabilities"`
	Metadata           []byte                `dynamodbav:"metadata"`
	RemoteKeys         []remoteKeyItem       `dynamodbav:"remoteKeys"`
	KeysFetchedAt      time.Time             `dynamodbav:"keysFetchedAt"`
	Health             healthItem            `dynamodbav:"health"`
	// PausedUntilMs is outside health: SetHealth replaces health whole, and
	// must not undo a concurrent Pause.
	PausedUntilMs  int64      `dynamodbav:"pausedUntilMs,omitempty"`
	CreatedAt      time.Time  `dynamodbav:"createdAt"`
	UpdatedAt      time.Time  `dynamodbav:"updatedAt"`
	ConnectedAt    *time.Time `dynamodbav:"connectedAt,omitempty"`
	DisconnectedAt *time.Time `dynamodbav:"disconnectedAt,omitempty"`
	SuspendedAt    *time.Time `dynamodbav:"suspendedAt,omitempty"`
	Reason         string     `dynamodbav:"reason,omitempty"`
}

type remoteKeyItem struct {
	KeyID     string     `dynamodbav:"keyId"`
	Alg       string     `dynamodbav:"alg"`
	PublicKey string     `dynamodbav:"publicKey"`
	Status    string     `dynamodbav:"status"`
	ExpiresAt *time.Time `dynamodbav:"expiresAt,omitempty"`
}

type healthItem struct {
	ConsecutiveFailures int        `dynamodbav:"consecutiveFailures"`
	LastSuccessAt       *time.Time `dynamodbav:"lastSuccessAt,omitempty"`
	LastFailureAt       *time.Time `dynamodbav:"lastFailureAt,omitempty"`
	FailingSince        *time.Time `dynamodbav:"failingSince,omitempty"`
	Circuit             string     `dynamodbav:"circuit"`
	OpenUntil           *time.Time `dynamodbav:"openUntil,omitempty"`
	OpenFor             int64      `dynamodbav:"openForMs,omitempty"`
	// Unix ms copies for conditions (ClaimProbe).
	OpenUntilMs  int64 `dynamodbav:"openUntilMs,omitempty"`
	ProbeUntilMs int64 `dynamodbav:"probeUntilMs,omitempty"`
}

func newHealthItem(h federation.Health) healthItem {
	it := healthItem{
		ConsecutiveFailures: h.ConsecutiveFailures, LastSuccessAt: h.LastSuccessAt, LastFailureAt: h.LastFailureAt,
		FailingSince: h.FailingSince, Circuit: h.Circuit, OpenUntil: h.OpenUntil, OpenFor: h.OpenFor,
	}
	if h.OpenUntil != nil {
		it.OpenUntilMs = h.OpenUntil.UnixMilli()
	}
	return it
}

func (it healthItem) health() federation.Health {
	return federation.Health{
		ConsecutiveFailures: it.ConsecutiveFailures, LastSuccessAt: it.LastSuccessAt, LastFailureAt: it.LastFailureAt,
		FailingSince: it.FailingSince, Circuit: it.Circuit, OpenUntil: it.OpenUntil, OpenFor: it.OpenFor,
	}
}

func newConnectionItem(c *federation.Connection) connectionItem {
	it := connectionItem{
		PK: wsPK(c.WorkspaceID), SK: connSK(c.ID), StatusKey: statusKey(c.WorkspaceID, c.Status),
		ListKey: wsPK(c.WorkspaceID), ListSort: listSort(c),
		ID: c.ID, WorkspaceID: c.WorkspaceID, RemoteInstanceID: c.RemoteInstanceID, RemoteURL: c.RemoteURL,
		RemoteName: c.RemoteName, Direction: c.Direction, Status: c.Status, RemoteCapabilities: c.RemoteCapabilities,
		Metadata: c.Metadata, RemoteKeys: remoteKeyItems(c.RemoteKeys), KeysFetchedAt: c.KeysFetchedAt, Health: newHealthItem(c.Health),
		CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt, ConnectedAt: c.ConnectedAt, DisconnectedAt: c.DisconnectedAt,
		SuspendedAt: c.SuspendedAt, Reason: c.Reason,
	}
	if c.Health.PausedUntil != nil {
		it.PausedUntilMs = c.Health.PausedUntil.UnixMilli()
	}
	return it
}

func remoteKeyItems(keys []federation.RemoteKey) []remoteKeyItem {
	out := make([]remoteKeyItem, len(keys))
	for i, k := range keys {
		out[i] = remoteKeyItem(k)
	}
	return out
}

func (it connectionItem) connection() *federation.Connection {
	c := &federation.Connection{
		ID: it.ID, WorkspaceID: it.WorkspaceID, RemoteInstanceID: it.RemoteInstanceID, RemoteURL: it.RemoteURL,
		RemoteName: it.RemoteName, Direction: it.Direction, Status: it.Status, RemoteCapabilities: it.RemoteCapabilities,
		Metadata: it.Metadata, KeysFetchedAt: it.KeysFetchedAt, Health: it.Health.health(), CreatedAt: it.CreatedAt, UpdatedAt: it.UpdatedAt,
		ConnectedAt: it.ConnectedAt, DisconnectedAt: it.DisconnectedAt, SuspendedAt: it.SuspendedAt, Reason: it.Reason,
	}
	if it.PausedUntilMs > 0 {
		t := time.UnixMilli(it.PausedUntilMs).UTC()
		c.Health.PausedUntil = &t
	}
	for _, k := range it.RemoteKeys {
		c.RemoteKeys = append(c.RemoteKeys, federation.RemoteKey(k))
	}
	return c
}

func decodeConnection(raw map[string]types.AttributeValue) (*federation.Connection, error) {
	var it connectionItem
	if err := attributevalue.UnmarshalMap(raw, &it); err != nil {
		return nil, fmt.Errorf("decode connection: %w", err)
	}
	return it.connection(), nil
}

func listSort(c *federation.Connection) string { return msTime(c.CreatedAt) + "#" + c.ID }

func statusKey(ws string, status federation.ConnStatus) string {
	return wsPK(ws) + "#" + string(status)
}

// Create stores a new connection with its id pointer and liveness lock,
// together with also (e.g. consuming an invite, recording the first answer),
// in one transaction. ErrExists if the id is taken; *ErrLiveConnection if the
// workspace already has a live connection to the remote; ErrPrecondition if
// one of also failed its condition.
func (r *Connections) Create(ctx context.Context, c *federation.Connection, also ...Write) error {
	if c.Health.Circuit == "" {
		c.Health.Circuit = federation.CircuitClosed
	}
	item, err := attributevalue.MarshalMap(newConnectionItem(c))
	if err != nil {
		return fmt.Errorf("encode connection: %w", err)
	}
	notExists := aws.String("attribute_not_exists(pk)")
	items := []types.TransactWriteItem{
		{Put: &types.Put{TableName: &r.table, Item: map[string]types.AttributeValue{
			"pk": s(idPK(c.ID)), "sk": s(idSK), "workspaceId": s(c.WorkspaceID),
		}, ConditionExpression: notExists}},
		{Put: &types.Put{TableName: &r.table, Item: item, ConditionExpression: notExists}},
	}
	if c.Status.IsLive() {
		items = append(items, types.TransactWriteItem{Put: &types.Put{TableName: &r.table, Item: map[string]types.AttributeValue{
			"pk": s(wsPK(c.WorkspaceID)), "sk": s(lockSK(c.RemoteURL)), "lockedBy": s(c.ID),
		}, ConditionExpression: notExists}})
	}
	extra := writesOf(also)
	items = append(items, extra...)
	_, err = r.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	var cancelled *types.TransactionCanceledException
	if errors.As(err, &cancelled) {
		reasons := cancelled.CancellationReasons
		failed := func(i int) bool { return i < len(reasons) && aws.ToString(reasons[i].Code) == "ConditionalCheckFailed" }
		switch {
		case failed(0) || failed(1):
			return fmt.Errorf("create connection %s: %w", c.ID, ErrExists)
		case failed(2) && c.Status.IsLive():
			existing, _ := r.lockHolder(ctx, c.WorkspaceID, c.RemoteURL)
			return fmt.Errorf("create connection: %w", &ErrLiveConnection{Existing: existing})
		}
		for i := len(items) - len(extra); i < len(items); i++ {
			if failed(i) {
				return fmt.Errorf("create connection: %w", ErrPrecondition)
			}
		}
		return fmt.Errorf("create connection: %w: %v", ErrConflict, err)
	}
	if err != nil {
		return fmt.Errorf("create connection: %w", err)
	}
	return nil
}

func (r *Connections) lockHolder(ctx context.Context, ws, remote string) (string, error) {
	var lock struct {
		LockedBy string `dynamodbav:"lockedBy"`
	}
	err := getItem(ctx, r.db, r.table, key(wsPK(ws), lockSK(remote)), &lock, "connection lock", false)
	return lock.LockedBy, err
}

// Get returns a connection of a workspace; ErrNotFound for an id of another workspace.
func (r *Connections) Get(ctx context.Context, ws, id string) (*federation.Connection, error) {
	var item connectionItem
	if err := getItem(ctx, r.db, r.table, key(wsPK(ws), connSK(id)), &item, "connection "+id, false); err != nil {
		return nil, err
	}
	return item.connection(), nil
}

// GetByID finds a connection by id alone, for signed endpoints: the peer is
// authenticated by the connection, not by a workspace.
func (r *Connections) GetByID(ctx context.Context, id string) (*federation.Connection, error) {
	var ptr struct {
		WorkspaceID string `dynamodbav:"workspaceId"`
	}
	if err := getItem(ctx, r.db, r.table, key(idPK(id), idSK), &ptr, "connection "+id, false); err != nil {
		return nil, err
	}
	return r.Get(ctx, ptr.WorkspaceID, id)
}

// List returns a workspace's connections, newest first (by createdAt),
// optionally only those with status (filtered within the workspace's own
// index partition, so a page may hold fewer than limit and still go on).
func (r *Connections) List(ctx context.Context, ws string, status federation.ConnStatus, limit int32, cursor string) (Page[federation.Connection], error) {
	in := &dynamodb.QueryInput{TableName: &r.table, IndexName: aws.String(IndexConnectionsByCreated)}
	if status != "" {
		in.FilterExpression = aws.String("#st = :st")
		in.ExpressionAttributeNames = map[string]string{"#st": "status"}
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":st": s(string(status))}
	}
	return newestFirst(ctx, r.db, in, "listKey", wsPK(ws), limit, cursor, "connections",
		func(raw map[string]types.AttributeValue) (federation.Connection, error) {
			c, err := decodeConnection(raw)
			if err != nil {
				return federation.Connection{}, err
			}
			return *c, nil
		})
}

// indexedKey marks that every connection is on the byCreated index.
const indexedPK, indexedSK = "INDEX#byCreated", "DONE"

// IndexAll puts connections stored before the byCreated index existed on
// it: a scan, once per deployment that needs it (a marker item says it is
// done), run by the sweeper. It reports whether anything was left to do.
func (r *Connections) IndexAll(ctx context.Context) (bool, error) {
	var done struct {
		PK string `dynamodbav:"pk"`
	}
	switch err := getItem(ctx, r.db, r.table, key(indexedPK, indexedSK), &done, "index marker", false); {
	case err == nil:
		return false, nil
	case !errors.Is(err, ErrNotFound):
		return false, err
	}
	p := dynamodb.NewScanPaginator(r.db, &dynamodb.ScanInput{
		TableName:                 &r.table,
		FilterExpression:          aws.String("begins_with(sk, :c) AND attribute_not_exists(listKey)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":c": s("CONN#")},
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return true, fmt.Errorf("scan connections: %w", err)
		}
		for _, raw := range page.Items {
			c, err := decodeConnection(raw)
			if err != nil {
				return true, err
			}
			if err := r.updateFields(ctx, c.WorkspaceID, c.ID, newUpdate().set("listKey", wsPK(c.WorkspaceID)).set("listSort", listSort(c))); err != nil && !errors.Is(err, ErrNotFound) {
				return true, err
			}
		}
	}
	_, err := r.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &r.table, Item: key(indexedPK, indexedSK)})
	return true, err
}

// ConnectionChange moves a connection to another status.
type ConnectionChange struct {
	To        federation.ConnStatus   // new status
	From      []federation.ConnStatus // allowed current statuses; nil: every status the state machine allows
	Direction string                  // required direction, "" for either
	// Set alongside the status when not nil/empty.
	Reason             *string
	Metadata           []byte
	RemoteCapabilities []byte
	ConnectedAt        *time.Time
	// ResetHealth starts the peer's health afresh (resume).
	ResetHealth bool
	// Also are written in the same transaction, e.g. the message that tells
	// the peer about the change, so the change and its notice are never apart.
	Also []Write
}

// Transition applies a status change if the state machine allows it from the
// stored status, atomically (a conditional write): of two concurrent accepts
// exactly one wins. Leaving the live statuses releases the liveness lock in
// the same transaction. ErrNotFound for an unknown id in ws, ErrConflict for an
// illegal move.
func (r *Connections) Transition(ctx context.Context, ws, id string, ch ConnectionChange) (*federation.Connection, error) {
	now := r.now().UTC()
	u := newUpdate().set("status", ch.To).set("statusKey", statusKey(ws, ch.To)).set("updatedAt", now)
	u.setIf(ch.Reason != nil, "reason", ptrVal(ch.Reason))
	u.setIf(len(ch.Metadata) > 0, "metadata", ch.Metadata)
	u.setIf(len(ch.RemoteCapabilities) > 0, "remoteCapabilities", ch.RemoteCapabilities)
	u.setIf(ch.ConnectedAt != nil, "connectedAt", ch.ConnectedAt)
	u.setIf(ch.ResetHealth, "health", healthItem{Circuit: federation.CircuitClosed})
	if ch.ResetHealth {
		u.remove("pausedUntilMs") // a resumed peer's pace starts afresh too
	}
	if !ch.To.IsLive() {
		u.set("disconnectedAt", now)
	}
	if ch.To == federation.StatusSuspended {
		u.set("suspendedAt", now) // catch-up on resume starts here
	}
	from := ch.From
	if from == nil {
		from = federation.SourcesOf(ch.To)
	}
	in(u, "status", from)
	if ch.Direction != "" {
		u.cond("{direction} = ?", ch.Direction)
	}
	current, err := r.Get(ctx, ws, id)
	if err != nil {
		return nil, err
	}
	leavesPending := current.Direction == federation.Inbound && current.Status == federation.StatusPending && ch.To != federation.StatusPending
	if leavesPending {
		u.cond("{status} = ?", federation.StatusPending) // the counters below count it
	}
	expr, cond, names, values := u.build()
	upd := &types.Update{
		TableName: &r.table, Key: key(wsPK(ws), connSK(id)), UpdateExpression: &expr,
		ConditionExpression: cond, ExpressionAttributeNames: names, ExpressionAttributeValues: values,
	}
	items := append([]types.TransactWriteItem{{Update: upd}}, r.released(current, ch.To, leavesPending)...)
	items = append(items, writesOf(ch.Also)...)
	var w retries
	if len(items) == 1 {
		_, err = r.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: upd.TableName, Key: upd.Key, UpdateExpression: upd.UpdateExpression, ConditionExpression: upd.ConditionExpression,
			ExpressionAttributeNames: upd.ExpressionAttributeNames, ExpressionAttributeValues: upd.ExpressionAttributeValues,
		}, w.watch)
	} else {
		// A retried transaction is idempotent by its ClientRequestToken.
		_, err = r.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	}
	var failed *types.ConditionalCheckFailedException
	var cancelled *types.TransactionCanceledException
	if errors.As(err, &failed) || errors.As(err, &cancelled) {
		current, gerr := r.Get(ctx, ws, id)
		if gerr != nil {
			return nil, gerr
		}
		// A retried update whose first attempt was applied (its answer
		// lost) finds its own updatedAt stamp, to the nanosecond.
		if w.mayHaveApplied && current.UpdatedAt.Equal(now) && current.Status == ch.To {
			return current, nil
		}
		return current, fmt.Errorf("connection %s is %s %s: %w", id, current.Direction, current.Status, ErrConflict)
	}
	if err != nil {
		return nil, fmt.Errorf("update connection: %w", err)
	}
	return r.Get(ctx, ws, id)
}

// released are the writes that go with a move to `to`: leaving the live
// statuses releases the liveness lock, leaving INBOUND PENDING the pending
// slots it held.
func (r *Connections) released(current *federation.Connection, to federation.ConnStatus, leavesPending bool) []types.TransactWriteItem {
	var items []types.TransactWriteItem
	if !to.IsLive() {
		items = append(items, types.TransactWriteItem{Delete: &types.Delete{
			TableName: &r.table, Key: key(wsPK(current.WorkspaceID), lockSK(current.RemoteURL)),
			ConditionExpression:       aws.String("attribute_not_exists(pk) OR lockedBy = :id"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":id": s(current.ID)},
		}})
	}
	if leavesPending {
		for _, pk := range []string{pendingPK(current.RemoteURL), pendingTotalPK} {
			items = append(items, types.TransactWriteItem{Update: &types.Update{
				TableName: &r.table, Key: key(pk, countSK), UpdateExpression: aws.String("ADD n :minus"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":minus": &types.AttributeValueMemberN{Value: "-1"}},
			}})
		}
	}
	return items
}

// ClaimProbe makes this caller the one delivery that probes a peer whose
// open circuit's wait is over (half-open): a conditional write that exactly
// one of the waiting deliveries wins; the lease lets another try when the
// prober died. It reports whether the caller won.
func (r *Connections) ClaimProbe(ctx context.Context, ws, id string, now, leaseUntil time.Time) (bool, error) {
	u := newUpdate().set("health.probeUntilMs", leaseUntil.UnixMilli())
	u.cond("{health.circuit} = ?", federation.CircuitOpen)
	u.cond("{health.openUntilMs} <= ?", now.UnixMilli())
	u.cond("(attribute_not_exists({health.probeUntilMs}) OR {health.probeUntilMs} <= ?)", now.UnixMilli())
	err := r.updateFields(ctx, ws, id, u)
	if errors.Is(err, ErrNotFound) {
		return false, nil // the condition failed: another delivery probes
	}
	return err == nil, err
}

// PendingSlot is the Write that takes one of the slots for INBOUND PENDING
// connections from origin: it fails (ErrPrecondition from Create) when the
// origin has perOrigin of them already or the instance total. Leaving
// PENDING frees the slot (Transition).
func (r *Connections) PendingSlot(origin string, perOrigin, total int) []Write {
	slot := func(pk string, max int) Write {
		return Write{types.TransactWriteItem{Update: &types.Update{
			TableName: &r.table, Key: key(pk, countSK), UpdateExpression: aws.String("ADD n :one"),
			ConditionExpression: aws.String("attribute_not_exists(n) OR n < :max"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":one": &types.AttributeValueMemberN{Value: "1"}, ":max": &types.AttributeValueMemberN{Value: fmt.Sprint(max)},
			},
		}}}
	}
	return []Write{slot(pendingPK(origin), perOrigin), slot(pendingTotalPK, total)}
}

// PendingInbound returns the workspace's INBOUND PENDING connections created
// before `before` (the ones to expire). It reads the workspace's PENDING
// partition of the status index, which the pending slots keep small.
func (r *Connections) PendingInbound(ctx context.Context, ws string, before time.Time) ([]federation.Connection, error) {
	var out []federation.Connection
	p := dynamodb.NewQueryPaginator(r.db, &dynamodb.QueryInput{
		TableName: &r.table, IndexName: aws.String(IndexConnectionsByStatus),
		KeyConditionExpression:    aws.String("statusKey = :p"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": s(statusKey(ws, federation.StatusPending))},
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("pending connections: %w", err)
		}
		for _, raw := range page.Items {
			c, err := decodeConnection(raw)
			if err != nil {
				return nil, err
			}
			if c.Direction == federation.Inbound && c.CreatedAt.Before(before) {
				out = append(out, *c)
			}
		}
	}
	return out, nil
}

// SetRemoteKeys replaces the stored keys of the peer with those it
// published at fetchedAt (a re-fetch of its GET /instance).
func (r *Connections) SetRemoteKeys(ctx context.Context, ws, id string, keys []federation.RemoteKey, fetchedAt time.Time) error {
	return r.updateFields(ctx, ws, id, newUpdate().set("remoteKeys", remoteKeyItems(keys)).set("keysFetchedAt", fetchedAt.UTC()).set("updatedAt", r.now().UTC()))
}

// Pause records that the peer asked for no deliveries before until (its
// 429 Retry-After); an earlier pause never shortens a later one.
func (r *Connections) Pause(ctx context.Context, ws, id string, until time.Time) error {
	u := newUpdate().set("pausedUntilMs", until.UnixMilli())
	u.cond("(attribute_not_exists({pausedUntilMs}) OR {pausedUntilMs} < ?)", until.UnixMilli())
	err := r.updateFields(ctx, ws, id, u)
	if errors.Is(err, ErrNotFound) {
		return nil // gone, or paused until later already
	}
	return err
}

// Unpause ends a peer's pace (a delivery to it succeeded).
func (r *Connections) Unpause(ctx context.Context, ws, id string) error {
	err := r.updateFields(ctx, ws, id, newUpdate().remove("pausedUntilMs"))
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// Release claims the right to release a connection's held deliveries now:
// at most once per every (PROTOCOL.md §1: an event.sync from the peer
// releases them at once, at most once a minute), across containers. It
// reports whether the caller won.
func (r *Connections) Release(ctx context.Context, ws, id string, now time.Time, every time.Duration) (bool, error) {
	u := newUpdate().set("releasedAtMs", now.UnixMilli())
	u.cond("(attribute_not_exists({releasedAtMs}) OR {releasedAtMs} <= ?)", now.Add(-every).UnixMilli())
	err := r.updateFields(ctx, ws, id, u)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// SetHealth stores the peer health of a connection.
func (r *Connections) SetHealth(ctx context.Context, ws, id string, h federation.Health) error {
	return r.updateFields(ctx, ws, id, newUpdate().set("health", newHealthItem(h)))
}

func (r *Connections) updateFields(ctx context.Context, ws, id string, u *update) error {
	u.cond("attribute_exists(pk)")
	expr, cond, names, values := u.build()
	_, err := r.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &r.table, Key: key(wsPK(ws), connSK(id)), UpdateExpression: &expr,
		ConditionExpression: cond, ExpressionAttributeNames: names, ExpressionAttributeValues: values,
	})
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		return fmt.Errorf("connection %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("update connection %s: %w", id, err)
	}
	return nil
}

// GetMany returns those of a workspace's connections that exist.
func (r *Connections) GetMany(ctx context.Context, ws string, connIDs []string) (map[string]*federation.Connection, error) {
	keys := make([]map[string]types.AttributeValue, len(connIDs))
	for i, id := range connIDs {
		keys[i] = key(wsPK(ws), connSK(id))
	}
	found := map[string]*federation.Connection{}
	err := batchGet(ctx, r.db, r.table, "connections", keys, false, func(item map[string]types.AttributeValue) error {
		c, err := decodeConnection(item)
		if err == nil {
			found[c.ID] = c
		}
		return err
	})
	return found, err
}

// Import writes ACTIVE connections in bulk (BatchWriteItem), without id
// pointers or liveness locks: for load generators and benchmarks that need
// thousands of peers, never for request handling.
func (r *Connections) Import(ctx context.Context, conns []federation.Connection) error {
	var items []map[string]types.AttributeValue
	for _, c := range conns {
		item, err := attributevalue.MarshalMap(newConnectionItem(&c))
		if err != nil {
			return fmt.Errorf("encode connection: %w", err)
		}
		items = append(items, item, map[string]types.AttributeValue{"pk": s(idPK(c.ID)), "sk": s(idSK), "workspaceId": s(c.WorkspaceID)})
	}
	return batchWrite(ctx, r.db, r.table, "connections", items)
}

// GetActive returns a connection of a workspace that may carry messages:
// ErrNotFound for an unknown id, connection_not_active when it is not ACTIVE.
func (r *Connections) GetActive(ctx context.Context, ws, id string) (*federation.Connection, error) {
	conn, err := r.Get(ctx, ws, id)
	if err != nil {
		return nil, err
	}
	if conn.Status != federation.StatusActive {
		return nil, federation.Errorf(federation.CodeNotActive, "connection %s is %s", id, conn.Status)
	}
	return conn, nil
}
