package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/fedgate/fedgate/shared/connections"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/store"
)

func (a *app) connectionsCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "connections", Aliases: []string{"connection", "conn"}, Short: "Connections to other instances"}

	var lf listFlags
	var status string
	list := &cobra.Command{Use: "list", Short: "List the workspace's connections", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			page, raw, err := pages[federation.Connection](a, c, "/connections", lf.query("status", status), lf.all)
			if err != nil {
				return err
			}
			return a.show(c, Result{Body: raw}, func(w io.Writer) error { return connectionTable(w, page) })
		}}
	lf.add(list)
	list.Flags().StringVar(&status, "status", "", "only PENDING, ACTIVE, SUSPENDED, DISCONNECTED or REJECTED")

	get := &cobra.Command{Use: "get ID", Short: "Show one connection", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return a.connection(c, "GET", "/connections/"+args[0], nil)
		}}

	var invite string
	initiate := &cobra.Command{Use: "initiate REMOTE_URL", Short: "Connect to a remote instance (with --invite: ACTIVE at once)",
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return a.connection(c, "POST", "/connections/initiate", connections.InitiateInput{RemoteURL: args[0], InviteToken: invite})
		}}
	initiate.Flags().StringVar(&invite, "invite", "", "invite token the remote instance gave")

	var expires time.Duration
	inviteCmd := &cobra.Command{Use: "invite", Short: "Create a single-use invite to this workspace (needs fedgate:admin)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			var in connections.InviteInput
			if expires > 0 {
				secs := int(expires / time.Second)
				in.ExpiresInSeconds = &secs
			}
			ans, err := a.call(c, "POST", "/connections/invites", nil, in)
			if err != nil {
				return err
			}
			var inv connections.Invite
			if err := ans.Decode(&inv); err != nil {
				return err
			}
			return a.show(c, ans, func(w io.Writer) error { return fields(w, "token", inv.Token, "expires", inv.ExpiresAt) })
		}}
	inviteCmd.Flags().DurationVar(&expires, "expires", 0, "lifetime, 1m to 24h (the instance's default is 15m)")

	cmd.AddCommand(list, get, initiate, inviteCmd,
		a.changeCommand("accept", "Accept an INBOUND PENDING connection", false),
		a.changeCommand("reject", "Reject an INBOUND PENDING connection", true),
		a.changeCommand("disconnect", "End a connection (the peer is told)", false),
		a.changeCommand("suspend", "Suspend a connection locally: it accepts and sends nothing", false),
		a.changeCommand("resume", "Resume a SUSPENDED connection (resets its health, catches up)", false),
	)
	return cmd
}

func (a *app) changeCommand(verb, short string, needsReason bool) *cobra.Command {
	var reason, metadata string
	cmd := &cobra.Command{Use: verb + " ID", Short: short, Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			meta, err := a.rawJSON("--metadata", metadata)
			if err != nil {
				return err
			}
			if needsReason && reason == "" {
				return usagef("%s needs --reason", verb)
			}
			return a.connection(c, "POST", "/connections/"+args[0]+"/"+verb, connections.ChangeInput{Reason: reason, Metadata: meta})
		}}
	cmd.Flags().StringVar(&reason, "reason", "", "why (told to the peer where the protocol carries it)")
	if verb == "accept" {
		cmd.Flags().StringVar(&metadata, "metadata", "", "metadata JSON object for the connection")
	}
	return cmd
}

// connection calls an endpoint answering one Connection and prints it.
func (a *app) connection(c *cobra.Command, method, path string, body any) error {
	ans, err := a.call(c, method, path, nil, body)
	if err != nil {
		return err
	}
	var conn federation.Connection
	if err := ans.Decode(&conn); err != nil {
		return err
	}
	return a.show(c, ans, func(w io.Writer) error {
		return fields(w, "id", conn.ID, "status", conn.Status, "direction", conn.Direction, "remote", conn.RemoteName,
			"remoteUrl", conn.RemoteURL, "remoteInstanceId", conn.RemoteInstanceID, "workspace", conn.WorkspaceID,
			"health", health(conn.Health), "created", conn.CreatedAt, "connected", conn.ConnectedAt,
			"disconnected", conn.DisconnectedAt, "reason", conn.Reason, "metadata", conn.Metadata)
	})
}

func health(h federation.Health) string {
	if h.Circuit == "" {
		return "-"
	}
	if h.ConsecutiveFailures == 0 {
		return h.Circuit
	}
	return fmt.Sprintf("%s, %d failures", h.Circuit, h.ConsecutiveFailures)
}

func connectionTable(w io.Writer, page store.Page[federation.Connection]) error {
	t := newTable(w, "ID", "STATUS", "DIRECTION", "REMOTE", "REMOTE URL", "HEALTH", "CREATED")
	for _, c := range page.Items {
		t.row(c.ID, c.Status, c.Direction, c.RemoteName, c.RemoteURL, health(c.Health), c.CreatedAt)
	}
	if err := t.flush(); err != nil {
		return err
	}
	return nextPage(w, page.NextCursor)
}
