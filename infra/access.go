package main

import (
	"github.com/fedgate/fedgate/shared/queue"
	"github.com/fedgate/fedgate/shared/store"
)

// access is what one function may touch: least privilege, written once per
// function next to the route table's names. A test checks every route has
// an entry, and that a function without a grant has no statement naming a
// resource.
type access struct {
	read, write []string // tables
	send        []string // queues (work queues or DLQs) it sends jobs to
	kms         bool     // seals/opens the signing key (and creates the identity on first start)
	secret      bool     // reads the orchestrator API key
}

// identity is what every function that signs or reads the identity needs.
var identity = access{write: []string{store.InstanceTable}, kms: true}

func (a access) with(b access) access {
	return access{
		read: append(append([]string{}, a.read...), b.read...), write: append(append([]string{}, a.write...), b.write...),
		send: append(append([]string{}, a.send...), b.send...), kms: a.kms || b.kms, secret: a.secret || b.secret,
	}
}

const (
	tConn   = store.ConnectionsTable
	tMsg    = store.MessagesTable
	tInv    = store.InvitesTable
	tSubs   = store.SubscriptionsTable
	tAgents = store.AgentsTable
)

var accessByFunction = map[string]access{
	"instance-get":              identity,
	"instance-update":           identity,
	"instance-rotate-keys":      identity,
	"connections-initiate":      identity.with(access{write: []string{tConn}}),
	"connections-invite":        {write: []string{tInv}},
	"connections-list":          {read: []string{tConn}},
	"connections-get":           {read: []string{tConn}},
	"connections-accept":        identity.with(access{write: []string{tConn, tMsg}, send: []string{queue.Delivery}}),
	"connections-reject":        identity.with(access{write: []string{tConn, tMsg}, send: []string{queue.Delivery}}),
	"connections-disconnect":    identity.with(access{write: []string{tConn, tMsg}, send: []string{queue.Delivery}}),
	"connections-suspend":       {write: []string{tConn}},
	"connections-resume":        {write: []string{tConn}},
	"incoming-connect":          identity.with(access{write: []string{tConn, tInv, tMsg}}),
	"incoming-connect-response": {write: []string{tConn, tMsg}},
	"incoming-disconnect":       {write: []string{tConn, tMsg}},
	"query-send":                identity.with(access{read: []string{tConn}, write: []string{tMsg}}),
	"incoming-query":            identity.with(access{read: []string{tSubs}, write: []string{tConn, tMsg}}),
	"queries-list":              {read: []string{tMsg}},
	"queries-get":               {read: []string{tMsg}},
	"command-send":              {read: []string{tConn}, write: []string{tMsg}, send: []string{queue.Delivery}},
	"incoming-command":          identity.with(access{write: []string{tConn, tMsg}, send: []string{queue.Dispatch}}),
	"incoming-command-response": {write: []string{tConn, tMsg, tAgents}},
	"agents-spawn":              {read: []string{tConn}, write: []string{tMsg, tSubs}, send: []string{queue.Delivery}},
	"agents-list":               {read: []string{tAgents}},
	"agents-get":                {read: []string{tConn, tAgents}, write: []string{tMsg}, send: []string{queue.Delivery}},
	"agents-kill":               {read: []string{tConn, tAgents}, write: []string{tMsg}, send: []string{queue.Delivery}},
	"commands-list":             {read: []string{tMsg}},
	"commands-get":              {read: []string{tMsg}},
	"events-subscribe":          {read: []string{tConn}, write: []string{tSubs, tMsg}, send: []string{queue.Delivery}},
	"events-unsubscribe":        {read: []string{tConn}, write: []string{tSubs, tMsg}, send: []string{queue.Delivery}},
	"events-subscriptions":      {read: []string{tSubs}},
	"events-publish":            {read: []string{tConn, tSubs}, write: []string{tMsg}, send: []string{queue.Fanout}},
	"events-messages-list":      {read: []string{tMsg}},
	"events-messages-get":       {read: []string{tMsg}},
	"events-redeliver":          {read: []string{tConn}, write: []string{tMsg}, send: []string{queue.Delivery}},
	"events-replay":             {read: []string{tConn}, write: []string{tMsg}, send: []string{queue.Delivery}},
	"incoming-event":            identity.with(access{read: []string{tSubs}, write: []string{tConn, tMsg, tAgents}}),
	"incoming-event-ack":        {write: []string{tConn, tMsg}},
	"fanout":                    {read: []string{tConn, tSubs}, write: []string{tMsg}, send: []string{queue.Fanout, queue.Delivery}},
	"deliver": identity.with(access{read: []string{tSubs}, write: []string{tConn, tMsg},
		send: []string{queue.Delivery, "delivery-dlq", queue.Fanout}}),
	"ack": identity.with(access{read: []string{tSubs}, write: []string{tConn, tMsg},
		send: []string{queue.Ack, "ack-dlq", queue.Fanout}}),
	"dispatcher": identity.with(access{read: []string{tConn}, write: []string{tMsg, tSubs, tAgents},
		send: []string{queue.Dispatch, queue.Ack}, secret: true}),
	"dlq-recorder": {write: []string{tMsg}},
	"timeouts":     {write: []string{tMsg}},
	"sweeper":      {write: []string{tMsg}, send: []string{queue.Delivery, queue.Ack, queue.Dispatch, queue.Fanout}},
	"agents-watch": {read: []string{tSubs}, write: []string{tAgents, tMsg}, send: []string{queue.Delivery}, secret: true},
}
