package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/fedgate/fedgate/infra/conformance"
)

func (a *app) conformanceCommand() *cobra.Command {
	var o conformance.Options
	cmd := &cobra.Command{Use: "conformance --target URL --token JWT", Short: "Check that an instance speaks the federation protocol (any implementation)",
		Long: `Runs PROTOCOL.md's checks against an instance from the outside: a short-lived peer with its own
Ed25519 key and HTTP listener joins the target with an invite made with the token (scope fedgate:admin),
then checks identity, handshake, every verification failure and its code, duplicates, QUERY, COMMAND
with its asynchronous COMMAND_RESPONSE, EVENT both ways, subscription commands, a rotation of its own
key, suspension and DISCONNECT. One line per check and a summary; exit 0 only when none failed (9 otherwise).
The target must reach the peer: --listen and --public-url (https in production). A target on http
or loopback needs --dev.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if o.Target == "" || o.Token == "" {
				return usagef("conformance needs --target and --token")
			}
			o.HTTP = a.env.HTTP
			if !a.json {
				// A check's detail quotes what the target answered.
				o.OnResult = func(r conformance.Result) { fmt.Fprintln(c.OutOrStdout(), printable(r.Line())) }
			}
			report, err := conformance.Run(c.Context(), o)
			if err != nil {
				return usageError{err}
			}
			if a.json {
				if err := printValue(c.OutOrStdout(), report); err != nil {
					return err
				}
			} else {
				fmt.Fprintln(c.OutOrStdout(), printable(report.Summary()))
			}
			if report.Failed > 0 {
				return exitWith(ExitChecks, "")
			}
			return nil
		}}
	f := cmd.Flags()
	f.StringVar(&o.Target, "target", "", "the instance's base URL")
	f.StringVar(&o.Token, "token", "", "a JWT of a workspace of the target, with scope fedgate:admin")
	f.BoolVar(&o.Dev, "dev", false, "allow a target (and a peer) on http or loopback: development only")
	f.StringVar(&o.Listen, "listen", "127.0.0.1:0", "address the test peer listens on")
	f.StringVar(&o.PublicURL, "public-url", "", "URL the target reaches the test peer at (default: http://<listen address>, needs --dev)")
	f.StringSliceVar(&o.Sections, "section", nil, "run only these sections (and what they need): "+fmt.Sprint(conformance.Sections))
	f.DurationVar(&o.Wait, "wait", 60*time.Second, "how long to wait for asynchronous answers (COMMAND_RESPONSE, deliveries)")
	return cmd
}
