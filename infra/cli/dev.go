package cli

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/fedgate/fedgate/infra/local/devjwt"
)

func (a *app) devCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "dev", Short: "Helpers for the local runner (make dev)"}
	var state, workspace, sub string
	var scopes []string
	var ttl time.Duration
	token := &cobra.Command{Use: "token", Short: "Print a dev JWT the local instances accept (like make token)", Args: cobra.NoArgs,
		Example: `  export FEDGATE_URL=http://127.0.0.1:8081
  export FEDGATE_TOKEN=$(fedgate dev token --workspace ws-1 --scope fedgate:admin)`,
		RunE: func(c *cobra.Command, _ []string) error {
			auth, err := devjwt.LoadOrCreate(filepath.Join(state, "dev-jwt-key.pem"))
			if err != nil {
				return err
			}
			var fields []string
			for _, s := range scopes {
				fields = append(fields, strings.Fields(s)...)
			}
			tok, err := auth.Mint(devjwt.Token{Subject: sub, Workspace: workspace, Scopes: fields, TTL: ttl})
			if err != nil {
				return usageError{err}
			}
			_, err = fmt.Fprintln(c.OutOrStdout(), tok)
			return err
		}}
	f := token.Flags()
	f.StringVar(&state, "state", ".local", "the local runner's state directory (holds the dev signing key)")
	f.StringVar(&workspace, "workspace", "ws-1", "workspace_id claim")
	f.StringArrayVar(&scopes, "scope", nil, "OAuth scope (repeat, or space-separated): fedgate:admin, fedgate:instance")
	f.StringVar(&sub, "sub", "dev-user", "sub claim (user id)")
	f.DurationVar(&ttl, "ttl", 12*time.Hour, "lifetime")
	cmd.AddCommand(token)
	return cmd
}
