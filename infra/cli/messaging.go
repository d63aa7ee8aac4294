package cli

import (
	"encoding/json"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/messaging"
)

func (a *app) commandsCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "commands", Aliases: []string{"command", "cmd"}, Short: "COMMANDs to peers and from them"}
	var wait time.Duration
	send := &cobra.Command{Use: "send CONNECTION COMMAND_TYPE [PAYLOAD_JSON|@file|@-]", Short: "Send a COMMAND; --wait for its response",
		Args: cobra.RangeArgs(2, 3),
		RunE: func(c *cobra.Command, args []string) error {
			payload := json.RawMessage("{}")
			if len(args) == 3 {
				p, err := a.rawJSON("payload", args[2])
				if err != nil {
					return err
				}
				payload = p
			}
			ans, err := a.call(c, "POST", "/command", nil, messaging.CommandInput{ConnectionID: args[0], CommandType: args[1], Payload: payload})
			if err != nil {
				return err
			}
			return a.sentMessage(c, ans, "/commands/", wait, true)
		}}
	send.Flags().DurationVar(&wait, "wait", 0, "wait up to this long for the COMMAND_RESPONSE (exit 8 if none)")
	list, get, attempts := a.messageCommands("command", "/commands", true)
	cmd.AddCommand(send, list, get, attempts)
	return cmd
}

func (a *app) queriesCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "queries", Aliases: []string{"query"}, Short: "QUERYs to peers and from them"}
	var qctx string
	send := &cobra.Command{Use: "send CONNECTION QUERY", Short: "Send a QUERY and print the peer's answer", Args: cobra.ExactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			qc, err := a.rawJSON("--context", qctx)
			if err != nil {
				return err
			}
			ans, err := a.call(c, "POST", "/query", nil, messaging.QueryInput{ConnectionID: args[0], Query: args[1], Context: qc})
			if err != nil {
				return err
			}
			return a.sentMessage(c, ans, "/queries/", 0, false)
		}}
	send.Flags().StringVar(&qctx, "context", "", "context JSON object")
	list, get, _ := a.messageCommands("query", "/queries", true)
	cmd.AddCommand(send, list, get)
	return cmd
}

// sentMessage prints a message just sent, after waiting for it if asked.
func (a *app) sentMessage(c *cobra.Command, ans Result, path string, wait time.Duration, longPoll bool) error {
	var m federation.Message
	if err := ans.Decode(&m); err != nil {
		return err
	}
	var werr error
	if wait > 0 && !m.Settled() {
		var got Result
		got, m, werr = a.waitMessage(c, path+m.ID, wait, longPoll)
		if got.Body == nil {
			return werr
		}
		ans = got
	}
	if err := a.show(c, ans, func(w io.Writer) error { return messageFields(w, m) }); err != nil {
		return err
	}
	if werr == nil && m.Response != nil && !m.Response.Success && m.Settled() {
		return exitWith(ExitError, "the peer answered success=false: %s", m.Response.Error)
	}
	return werr
}
