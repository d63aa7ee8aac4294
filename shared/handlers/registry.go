package handlers

import (
	"github.com/fedgate/fedgate/shared/api"
	"github.com/fedgate/fedgate/shared/app"
)

// HTTP, SQS and Scheduled map each function's name (as in shared/routes) to
// its handler constructor. The local runner runs functions through them; a
// test checks that functions/<name>/main.go starts the very same constructor.
var (
	HTTP = map[string]func(*app.App) api.LambdaHandler{
		"instance-get":              InstanceGet,
		"instance-update":           InstanceUpdate,
		"instance-rotate-keys":      InstanceRotateKeys,
		"connections-initiate":      ConnectionsInitiate,
		"connections-invite":        ConnectionsInvite,
		"connections-list":          ConnectionsList,
		"connections-get":           ConnectionsGet,
		"connections-accept":        ConnectionsAccept,
		"connections-reject":        ConnectionsReject,
		"connections-disconnect":    ConnectionsDisconnect,
		"connections-suspend":       ConnectionsSuspend,
		"connections-resume":        ConnectionsResume,
		"incoming-connect":          IncomingConnect,
		"incoming-connect-response": IncomingConnectResponse,
		"incoming-disconnect":       IncomingDisconnect,
		"query-send":                QuerySend,
		"incoming-query":            IncomingQuery,
		"queries-list":              QueriesList,
		"queries-get":               QueriesGet,
		"command-send":              CommandSend,
		"incoming-command":          IncomingCommand,
		"incoming-command-response": IncomingCommandResponse,
		"commands-list":             CommandsList,
		"commands-get":              CommandsGet,
		"agents-spawn":              AgentsSpawn,
		"agents-list":               AgentsList,
		"agents-get":                AgentsGet,
		"agents-kill":               AgentsKill,
		"events-subscribe":          EventsSubscribe,
		"events-unsubscribe":        EventsUnsubscribe,
		"events-subscriptions":      EventsSubscriptions,
		"events-publish":            EventsPublish,
		"events-messages-list":      EventsMessagesList,
		"events-messages-get":       EventsMessagesGet,
		"events-redeliver":          EventsRedeliver,
		"events-replay":             EventsReplay,
		"incoming-event":            IncomingEvent,
		"incoming-event-ack":        IncomingEventAck,
	}
	SQS = map[string]func(*app.App) SQSHandler{
		"fanout":       Fanout,
		"deliver":      Deliver,
		"ack":          Ack,
		"dispatcher":   Dispatcher,
		"dlq-recorder": DLQRecorder,
	}
	Scheduled = map[string]func(*app.App) ScheduledHandler{
		"timeouts":     Timeouts,
		"sweeper":      Sweeper,
		"agents-watch": AgentsWatch,
	}
)
