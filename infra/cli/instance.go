package cli

import (
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fedgate/fedgate/shared/identity"
)

func (a *app) instanceCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "instance", Short: "This instance's identity and signing keys"}
	var revoke bool
	show := func(method, path string, body func() any) func(*cobra.Command, []string) error {
		return func(c *cobra.Command, _ []string) error {
			ans, err := a.call(c, method, path, nil, body())
			if err != nil {
				return err
			}
			var d identity.Document
			if err := ans.Decode(&d); err != nil {
				return err
			}
			return a.show(c, ans, func(w io.Writer) error { return documentFields(w, d) })
		}
	}
	rotate := &cobra.Command{Use: "rotate-keys",
		Short: "Rotate the signing key; the old one stays published as retired, or with --revoke is withdrawn at once (needs fedgate:instance)",
		Args:  cobra.NoArgs, RunE: show("POST", "/instance/keys/rotate", func() any {
			if revoke {
				return identity.RotateInput{Revoke: true}
			}
			return nil
		})}
	rotate.Flags().BoolVar(&revoke, "revoke", false, "withdraw the current key at once (it may be compromised): peers stop accepting it within an hour")
	cmd.AddCommand(
		&cobra.Command{Use: "show", Short: "Show the public identity and keys (GET /instance)", Args: cobra.NoArgs,
			RunE: show("GET", "/instance", func() any { return nil })},
		rotate,
	)
	return cmd
}

func documentFields(w io.Writer, d identity.Document) error {
	if err := fields(w, "instanceId", d.InstanceID, "name", d.Name, "url", d.URL, "keyId", d.KeyID,
		"protocol", d.Capabilities.ProtocolVersion, "commandTypes", strings.Join(d.Capabilities.CommandTypes, ", "),
		"eventTypes", strings.Join(d.Capabilities.EventTypes, ", "), "metadata", d.Metadata); err != nil {
		return err
	}
	io.WriteString(w, "\n")
	t := newTable(w, "KEY", "ALG", "STATUS", "CREATED", "EXPIRES")
	for _, k := range d.PublicKeys {
		t.row(k.KeyID, k.Alg, k.Status, k.CreatedAt, k.ExpiresAt)
	}
	return t.flush()
}
