package handlers

import (
	"context"
	"net/http"

	"github.com/fedgate/fedgate/shared/app"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/httpapi"
	"github.com/fedgate/fedgate/shared/messaging"
)

var commandRoutes = routeHandlers{
	"command-send":              CommandSend,
	"incoming-command":          IncomingCommand,
	"incoming-command-response": IncomingCommandResponse,
	"commands-list":             CommandsList,
	"commands-get":              CommandsGet,
	"commands-attempts":         CommandsAttempts,
}

// CommandSend serves POST /command: 202 with the PENDING message.
func CommandSend(a *app.App) httpapi.LambdaHandler {
	return handle(a, "command-send", func(ctx context.Context, c *httpapi.Call) (int, any, error) {
		var in messaging.CommandInput
		if err := c.Decode(&in); err != nil {
			return 0, nil, err
		}
		msg, err := a.Messaging.Command(ctx, c.Claims.Workspace, in)
		return http.StatusAccepted, msg, err
	})
}

// IncomingCommand serves POST /incoming/command.
func IncomingCommand(a *app.App) httpapi.LambdaHandler {
	return handle(a, "incoming-command", func(ctx context.Context, c *httpapi.Call) (int, any, error) {
		return answered(a.Messaging.ReceiveCommand(ctx, c.Body()))
	})
}

// IncomingCommandResponse serves POST /incoming/command/response.
func IncomingCommandResponse(a *app.App) httpapi.LambdaHandler {
	return handle(a, "incoming-command-response", func(ctx context.Context, c *httpapi.Call) (int, any, error) {
		return answered(a.Messaging.ReceiveCommandResponse(ctx, c.Body()))
	})
}

// CommandsList serves GET /commands.
func CommandsList(a *app.App) httpapi.LambdaHandler {
	return listMessages(a, "commands-list", federation.TypeCommand)
}

// CommandsGet serves GET /commands/{id} (?waitSeconds=).
func CommandsGet(a *app.App) httpapi.LambdaHandler {
	return getMessage(a, "commands-get", federation.TypeCommand)
}

// CommandsAttempts serves GET /commands/{id}/attempts (?limit=, ?cursor=).
func CommandsAttempts(a *app.App) httpapi.LambdaHandler {
	return messageAttempts(a, "commands-attempts", federation.TypeCommand)
}
