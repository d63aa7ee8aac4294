// Command openapi writes the OpenAPI 3.1 document of fedgate's HTTP API
// (shared/openapi) to a file (`make openapi` writes build/openapi.json).
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/fedgate/fedgate/shared/openapi"
)

func main() {
	out := flag.String("o", "build/openapi.json", "where to write the document (- for stdout)")
	server := flag.String("server", "", "the instance's base URL to name as the server (default: any instance, as a server variable)")
	flag.Parse()
	doc, err := openapi.Build(openapi.Options{ServerURL: *server})
	if err == nil {
		doc = append(doc, '\n')
		if *out == "-" {
			_, err = os.Stdout.Write(doc)
		} else if err = os.MkdirAll(filepath.Dir(*out), 0o755); err == nil {
			err = os.WriteFile(*out, doc, 0o644)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "openapi:", err)
		os.Exit(1)
	}
}
