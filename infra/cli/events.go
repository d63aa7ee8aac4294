package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/fedgate/fedgate/shared/events"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/openapi"
	"github.com/fedgate/fedgate/shared/store"
)

func (a *app) subscriptionsCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "subscriptions", Aliases: []string{"subscription", "subs"}, Short: "Event subscriptions, both ways"}
	var conn string
	list := &cobra.Command{Use: "list", Short: "Subscriptions made here (OUTBOUND) and by peers (INBOUND)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ans, err := a.call(c, "GET", "/events/subscriptions", listQuery("connectionId", conn), nil)
			if err != nil {
				return err
			}
			var page store.Page[openapi.Subscription]
			if err := ans.Decode(&page); err != nil {
				return err
			}
			return a.show(c, ans, func(w io.Writer) error {
				t := newTable(w, "ID", "CONNECTION", "EVENT TYPE", "DIRECTION", "ACTIVE", "UPDATED")
				for _, s := range page.Items {
					t.row(s.ID, s.ConnectionID, s.EventType, s.Direction, s.IsActive, s.UpdatedAt)
				}
				return t.flush()
			})
		}}
	list.Flags().StringVar(&conn, "connection", "", "only this connection")
	change := func(verb, path, short string) *cobra.Command {
		var metadata string
		c := &cobra.Command{Use: verb + " CONNECTION EVENT_TYPE", Short: short, Args: cobra.ExactArgs(2),
			RunE: func(c *cobra.Command, args []string) error {
				meta, err := a.rawJSON("--metadata", metadata)
				if err != nil {
					return err
				}
				ans, err := a.call(c, "POST", path, nil, events.SubscribeInput{ConnectionID: args[0], EventType: args[1], Metadata: meta})
				if err != nil {
					return err
				}
				var s openapi.Subscription
				if err := ans.Decode(&s); err != nil {
					return err
				}
				return a.show(c, ans, func(w io.Writer) error {
					return fields(w, "id", s.ID, "connection", s.ConnectionID, "eventType", s.EventType, "direction", s.Direction,
						"active", s.IsActive, "updated", s.UpdatedAt)
				})
			}}
		if verb == "subscribe" {
			c.Flags().StringVar(&metadata, "metadata", "", "metadata JSON object")
		}
		return c
	}
	cmd.AddCommand(list,
		change("subscribe", "/events/subscribe", "Subscribe to a peer's events (task.created, or task.*)"),
		change("unsubscribe", "/events/unsubscribe", "Unsubscribe"))
	return cmd
}

func (a *app) publishCommand() *cobra.Command {
	return &cobra.Command{Use: "publish EVENT_TYPE [PAYLOAD_JSON|@file|@-]", Short: "Publish an event to the subscribed peers",
		Args: cobra.RangeArgs(1, 2),
		RunE: func(c *cobra.Command, args []string) error {
			payload := json.RawMessage("{}")
			if len(args) == 2 {
				p, err := a.rawJSON("payload", args[1])
				if err != nil {
					return err
				}
				payload = p
			}
			ans, err := a.call(c, "POST", "/events/publish", nil, events.PublishInput{EventType: args[0], Payload: payload})
			if err != nil {
				return err
			}
			var p events.Published
			if err := ans.Decode(&p); err != nil {
				return err
			}
			return a.show(c, ans, func(w io.Writer) error { return fields(w, "eventId", p.EventID, "deliveries", p.Deliveries) })
		}}
}

func (a *app) messagesCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "messages", Aliases: []string{"message", "msgs"}, Short: "Event messages: deliveries (OUTBOUND) and received events (INBOUND)"}
	list, get, attempts := a.messageCommands("event message", "/events/messages", false)
	cmd.AddCommand(list, get, attempts, a.tailCommand())
	return cmd
}

// messageCommands are list, get and attempts of one message type.
func (a *app) messageCommands(noun, path string, longPoll bool) (list, get, attempts *cobra.Command) {
	var lf listFlags
	var status, direction string
	list = &cobra.Command{Use: "list", Short: "List " + noun + "s, newest first", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			page, raw, err := pages[federation.Message](a, c, path, lf.query("status", status, "direction", direction), lf.all)
			if err != nil {
				return err
			}
			return a.show(c, Result{Body: raw}, func(w io.Writer) error { return messageTable(w, page.Items, page.NextCursor) })
		}}
	lf.add(list)
	list.Flags().StringVar(&status, "status", "", "only this status (PENDING, RETRYING, DELIVERED, COMPLETED, FAILED, TIMEOUT, IGNORED)")
	list.Flags().StringVar(&direction, "direction", "", "OUTBOUND or INBOUND")

	var wait time.Duration
	get = &cobra.Command{Use: "get ID", Short: "Show one " + noun, Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			ans, m, err := a.waitMessage(c, path+"/"+url.PathEscape(args[0]), wait, longPoll)
			if err != nil && ans.Body == nil {
				return err
			}
			if perr := a.show(c, ans, func(w io.Writer) error { return messageFields(w, m) }); perr != nil {
				return perr
			}
			return err
		}}
	get.Flags().DurationVar(&wait, "wait", 0, "wait up to this long for the "+noun+" to finish (exit 8 if it does not)")

	var af listFlags
	attempts = &cobra.Command{Use: "attempts ID", Short: "Every delivery attempt of an outgoing " + noun + ", oldest first (PROTOCOL §9)",
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			page, raw, err := pages[federation.Attempt](a, c, path+"/"+url.PathEscape(args[0])+"/attempts", af.query(), af.all)
			if err != nil {
				return err
			}
			return a.show(c, Result{Body: raw}, func(w io.Writer) error {
				t := newTable(w, "ATTEMPT", "AT", "MS", "OUTCOME", "STATUS", "ERROR CLASS", "ERROR")
				for _, at := range page.Items {
					t.row(at.Attempt, at.At, at.DurationMs, at.Outcome, at.Status, at.ErrorClass, clip(at.Error, 60))
				}
				if err := t.flush(); err != nil {
					return err
				}
				return nextPage(w, page.NextCursor)
			})
		}}
	af.add(attempts)
	return list, get, attempts
}

// operationsCommand lists the operator events (PROTOCOL §9): the
// workspace's, or with --instance the whole instance's.
func (a *app) operationsCommand() *cobra.Command {
	var lf listFlags
	var instance bool
	cmd := &cobra.Command{Use: "operations", Aliases: []string{"ops"}, Args: cobra.NoArgs,
		Short: "Operator events, newest first: suspensions, dead letters, failing peers, key rotations",
		Long: "Operator events recorded on the instance (never sent to peers). Without --instance: the workspace's " +
			"(a fedgate:admin token); with --instance: the whole instance's (a fedgate:instance token).",
		RunE: func(c *cobra.Command, _ []string) error {
			scope := ""
			if instance {
				scope = "instance"
			}
			page, raw, err := pages[federation.Operation](a, c, "/events/operations", lf.query("scope", scope), lf.all)
			if err != nil {
				return err
			}
			return a.show(c, Result{Body: raw}, func(w io.Writer) error {
				t := newTable(w, "AT", "TYPE", "WORKSPACE", "CONNECTION", "MESSAGE", "DETAIL")
				for _, op := range page.Items {
					t.row(op.At, op.Type, op.WorkspaceID, op.ConnectionID, op.MessageID, clip(string(op.Detail), 80))
				}
				if err := t.flush(); err != nil {
					return err
				}
				return nextPage(w, page.NextCursor)
			})
		}}
	lf.add(cmd)
	cmd.Flags().BoolVar(&instance, "instance", false, "the whole instance's operator events (needs fedgate:instance)")
	return cmd
}

// tailCommand prints the newest event messages and, with -f, new ones as
// they arrive.
func (a *app) tailCommand() *cobra.Command {
	var follow bool
	var n int
	var interval time.Duration
	var direction, status string
	cmd := &cobra.Command{Use: "tail", Short: "Print the newest event messages; -f follows new ones (Ctrl-C stops)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			seen := map[string]bool{}
			first := true
			var t *table
			for {
				limit := 100
				if first {
					limit = max(1, min(n, 100))
				}
				page, _, err := pages[federation.Message](a, c, "/events/messages",
					listQuery("direction", direction, "status", status, "limit", fmt.Sprint(limit)), false)
				if err != nil {
					return err
				}
				var fresh []federation.Message
				for _, m := range page.Items {
					if !seen[m.ID] {
						seen[m.ID] = true
						fresh = append(fresh, m)
					}
				}
				slices.Reverse(fresh) // oldest first, like tail
				for _, m := range fresh {
					if a.json {
						data, _ := json.Marshal(m)
						fmt.Fprintln(c.OutOrStdout(), string(inertJSON(data)))
						continue
					}
					if t == nil {
						t = newTable(c.OutOrStdout(), "ID", "TYPE", "WHAT", "DIRECTION", "STATUS", "ATTEMPTS", "CONNECTION", "CREATED")
					}
					t.row(m.ID, m.MessageType, what(m), m.Direction, m.Status, m.Attempts, m.ConnectionID, m.CreatedAt)
				}
				if t != nil {
					_ = t.flush()
				}
				first = false
				if !follow {
					return nil
				}
				if err := sleep(c.Context(), interval); err != nil {
					return nil // interrupted: following ends quietly
				}
			}
		}}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new messages")
	cmd.Flags().IntVarP(&n, "lines", "n", 10, "how many of the newest to print first")
	cmd.Flags().DurationVar(&interval, "interval", 2*time.Second, "how often to look for new messages")
	cmd.Flags().StringVar(&direction, "direction", "", "OUTBOUND or INBOUND")
	cmd.Flags().StringVar(&status, "status", "", "only this status")
	return cmd
}

func (a *app) redeliverCommand() *cobra.Command {
	var wait time.Duration
	cmd := &cobra.Command{Use: "redeliver MESSAGE_ID", Short: "Send one event message again, as a new delivery", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			ans, err := a.call(c, "POST", "/events/messages/"+url.PathEscape(args[0])+"/redeliver", nil, nil)
			if err != nil {
				return err
			}
			var r openapi.Redelivered
			if err := ans.Decode(&r); err != nil {
				return err
			}
			if wait <= 0 || len(r.MessageIDs) == 0 {
				return a.show(c, ans, func(w io.Writer) error {
					return fields(w, "deliveries", r.Deliveries, "messageIds", fmt.Sprint(r.MessageIDs))
				})
			}
			ans, m, err := a.waitMessage(c, "/events/messages/"+url.PathEscape(r.MessageIDs[0]), wait, false)
			if ans.Body != nil {
				if perr := a.show(c, ans, func(w io.Writer) error { return messageFields(w, m) }); perr != nil {
					return perr
				}
			}
			return err
		}}
	cmd.Flags().DurationVar(&wait, "wait", 0, "wait up to this long for the new delivery to be delivered")
	return cmd
}
