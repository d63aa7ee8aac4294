// Command deployed prints what `make deploy` deployed, from the outputs file
// `cdk deploy --outputs-file` wrote: each instance's URL, the address of its
// identity document, whether peers can verify it yet, its dashboard, and the
// next step.
//
//	go run ./infra/cmd/deployed build/outputs.json
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: deployed <cdk outputs file>")
		os.Exit(2)
	}
	data, err := os.ReadFile(os.Args[1])
	if err == nil {
		err = summarize(os.Stdout, data, os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "deployed:", err)
		os.Exit(1)
	}
}

// summarize writes one summary per stack in outputs (stack → output → value).
func summarize(w io.Writer, outputs []byte, file string) error {
	var stacks map[string]map[string]string
	if err := json.Unmarshal(outputs, &stacks); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if len(stacks) == 0 {
		return fmt.Errorf("%s names no stack", file)
	}
	names := make([]string, 0, len(stacks))
	for name := range stacks {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		o := stacks[name]
		if o["InstanceUrl"] == "" {
			return fmt.Errorf("%s: stack %s has no InstanceUrl output (not a fedgate stack?)", file, name)
		}
		fmt.Fprintf(w, "\n%s is deployed.\n", name)
		fmt.Fprintf(w, "  Instance URL:  %s\n", o["InstanceUrl"])
		fmt.Fprintf(w, "  Identity:      GET %s\n", o["InstanceDocument"])
		fmt.Fprintf(w, "  Peers:         %s\n", o["Federation"])
		if target := o["DomainTarget"]; target != "" {
			fmt.Fprintf(w, "  DNS target:    %s (alias zone %s)\n", target, o["DomainTargetZone"])
		}
		if dashboard := o["DashboardUrl"]; dashboard != "" {
			fmt.Fprintf(w, "  Dashboard:     %s (every alarm's description names it)\n", dashboard)
		}
		if kept := o["KeptOnDestroy"]; kept != "" {
			fmt.Fprintf(w, "  make destroy keeps: %s\n", kept)
		}
		fmt.Fprintf(w, "\nNext step. %s\n", o["NextStep"])
		fmt.Fprintf(w, "(every output: %s)\n", file)
	}
	return nil
}
