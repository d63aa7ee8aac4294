package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Limits is the repository of the shared state of fedgate's limits
// (PROTOCOL.md §9), shared by every Lambda container:
//   - rate windows: pk "RATE#<key>", sk "<window start, Unix ms>" → n, the
//     requests granted in that window so far;
//   - in-flight slots of a peer: pk "PEER#<peer>", sk "SLOT#<k>" → the
//     owner of the delivery holding it and until when.
//
// Every item expires by TTL, so nothing is left behind by a crashed caller.
type Limits struct {
	db    *dynamodb.Client
	table string
}

func ratePK(key string) string  { return "RATE#" + key }
func peerPK(peer string) string { return "PEER#" + peer }
func slotSK(k int) string       { return fmt.Sprintf("SLOT#%03d", k) }

func num(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

// Grant takes up to want requests from the window of name that starts at
// window, of which limit may be granted in all, and returns how many it got:
// want, or 1 when fewer than want are left, or 0 when none is. Containers
// take several at a time so most requests need no call at all.
func (r *Limits) Grant(ctx context.Context, name string, window time.Time, length time.Duration, want, limit int) (int, error) {
	for _, n := range []int{want, 1} {
		if n > limit {
			continue
		}
		_, err := r.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: &r.table, Key: key(ratePK(name), strconv.FormatInt(window.UnixMilli(), 10)),
			UpdateExpression:    aws.String("ADD n :n SET expiresAt = :exp"),
			ConditionExpression: aws.String("attribute_not_exists(n) OR n <= :most"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":n": num(int64(n)), ":most": num(int64(limit - n)),
				// Kept a little past the window, then TTL removes it.
				":exp": num(window.Add(length + time.Hour).Unix()),
			},
		})
		var failed *types.ConditionalCheckFailedException
		switch {
		case err == nil:
			return n, nil
		case errors.As(err, &failed):
			if n == 1 {
				return 0, nil
			}
		default:
			return 0, fmt.Errorf("rate window %s: %w", name, err)
		}
	}
	return 0, nil
}

// Slot is a held in-flight slot of a peer; Release frees it.
type Slot struct {
	Peer  string
	Index int
	Owner string
}

// Acquire takes one of the slots in-flight slots of peer for owner until
// `until` (a holder that dies frees it then). It tries a few slots at
// random, then reads which are free; ok is false when all are held.
func (r *Limits) Acquire(ctx context.Context, peer string, slots int, owner string, now, until time.Time) (Slot, bool, error) {
	tried := map[int]bool{}
	for range min(3, slots) {
		k := rand.IntN(slots)
		for tried[k] {
			k = (k + 1) % slots
		}
		tried[k] = true
		ok, err := r.take(ctx, peer, k, owner, now, until)
		if err != nil || ok {
			return Slot{Peer: peer, Index: k, Owner: owner}, ok, err
		}
	}
	held, err := r.heldSlots(ctx, peer, now)
	if err != nil {
		return Slot{}, false, err
	}
	for k := range slots {
		if held[k] || tried[k] {
			continue
		}
		ok, err := r.take(ctx, peer, k, owner, now, until)
		if err != nil || ok {
			return Slot{Peer: peer, Index: k, Owner: owner}, ok, err
		}
	}
	return Slot{}, false, nil
}

// take writes slot k for owner if it is free or its holder's time is over.
// A retried take whose first attempt was applied holds the slot (putOnce),
// rather than leaving it held by nobody until `until`.
func (r *Limits) take(ctx context.Context, peer string, k int, owner string, now, until time.Time) (bool, error) {
	err := putOnce(ctx, r.db, &dynamodb.PutItemInput{
		TableName: &r.table,
		Item: map[string]types.AttributeValue{
			"pk": s(peerPK(peer)), "sk": s(slotSK(k)), "owner": s(owner),
			"untilMs": num(until.UnixMilli()), "expiresAt": num(until.Add(time.Hour).Unix()),
		},
		ConditionExpression:       aws.String("attribute_not_exists(pk) OR untilMs < :now"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": num(now.UnixMilli())},
	})
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("take slot %d of %s: %w", k, peer, err)
	}
	return true, nil
}

// heldSlots returns the slots of peer held at now.
func (r *Limits) heldSlots(ctx context.Context, peer string, now time.Time) (map[int]bool, error) {
	held := map[int]bool{}
	p := dynamodb.NewQueryPaginator(r.db, &dynamodb.QueryInput{
		TableName: &r.table, KeyConditionExpression: aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": s(peerPK(peer))},
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("slots of %s: %w", peer, err)
		}
		for _, item := range page.Items {
			var sk string
			var until int64
			if v, ok := item["sk"].(*types.AttributeValueMemberS); ok {
				sk = v.Value
			}
			if v, ok := item["untilMs"].(*types.AttributeValueMemberN); ok {
				until, _ = strconv.ParseInt(v.Value, 10, 64)
			}
			var k int
			if _, err := fmt.Sscanf(sk, "SLOT#%d", &k); err == nil && until >= now.UnixMilli() {
				held[k] = true
			}
		}
	}
	return held, nil
}

// Release frees a slot, unless its time ran out and another holds it now.
func (r *Limits) Release(ctx context.Context, slot Slot) error {
	_, err := r.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: &r.table, Key: key(peerPK(slot.Peer), slotSK(slot.Index)),
		ConditionExpression:       aws.String("#o = :owner"),
		ExpressionAttributeNames:  map[string]string{"#o": "owner"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":owner": s(slot.Owner)},
	})
	var failed *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &failed) {
		return fmt.Errorf("release slot %d of %s: %w", slot.Index, slot.Peer, err)
	}
	return nil
}

// InFlight counts the slots of peer held at now (for tests and operators).
func (r *Limits) InFlight(ctx context.Context, peer string, now time.Time) (int, error) {
	held, err := r.heldSlots(ctx, peer, now)
	return len(held), err
}
