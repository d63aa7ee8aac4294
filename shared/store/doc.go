// Package store holds fedgate's DynamoDB repositories and the table
// definitions that the CDK stack and the local runner both create resources
// from. It is sealed: nothing outside it imports the DynamoDB SDK, names an
// attribute or builds a key. Callers pass typed records and change structs;
// items that must be written in the same transaction as another change travel
// as an opaque Write made here.
//
// Files by table and concern: connections.go, invites.go, subscriptions.go,
// agents.go, instance.go; the messages table in messages.go (records, reads
// and conditional updates), answers.go (first answers to incoming envelopes),
// outbox.go (outbox and deadline indexes), batch.go (batched writes and
// reads) and lists.go (the lists and windows users and replays read).
package store
