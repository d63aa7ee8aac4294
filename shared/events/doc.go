// Package events holds the EVENT use cases (PROTOCOL.md §8): subscribing to
// a peer's events (and its event.subscribe/unsubscribe commands on the
// publisher's side), publishing, the fan-out of one event to every
// subscribed connection (one Query, BatchWriteItem, SendMessageBatch, cursor
// continuation), redelivery and replay, receiving an EVENT with its signed
// EVENT_ACK, and a late EVENT_ACK.
package events
