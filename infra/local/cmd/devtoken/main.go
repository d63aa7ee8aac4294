// Command devtoken prints a JWT that the local runner accepts (`make token`).
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fedgate/fedgate/infra/local/devjwt"
)

func main() {
	dir := flag.String("state", ".local", "the local runner's state directory")
	workspace := flag.String("workspace", "ws-1", "workspace_id claim")
	scope := flag.String("scope", "", `space-separated OAuth scopes (the scope claim), e.g. "fedgate:admin fedgate:instance"`)
	sub := flag.String("sub", "dev-user", "sub claim (user id)")
	ttl := flag.Duration("ttl", 12*time.Hour, "lifetime")
	flag.Parse()
	auth, err := devjwt.LoadOrCreate(filepath.Join(*dir, "dev-jwt-key.pem"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "devtoken:", err)
		os.Exit(1)
	}
	token, err := auth.Mint(devjwt.Token{Subject: *sub, Workspace: *workspace, Scopes: strings.Fields(*scope), TTL: *ttl})
	if err != nil {
		fmt.Fprintln(os.Stderr, "devtoken:", err)
		os.Exit(1)
	}
	fmt.Println(token)
}
