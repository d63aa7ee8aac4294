package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// Exit codes (documented in the README and in `fedgate --help`).
const (
	ExitOK          = 0 // success
	ExitError       = 1 // the instance could not be reached, failed (500) or answered something unexpected
	ExitUsage       = 2 // bad flags or arguments, no instance chosen
	ExitAuth        = 3 // 401 or 403: no valid token, a missing scope, or not allowed
	ExitNotFound    = 4 // 404: no such id in the caller's workspace
	ExitRefused     = 5 // 400, 409 or 413: invalid input or a state change that is not allowed
	ExitRateLimited = 6 // 429
	ExitRemote      = 7 // 502 or 504: a peer failed
	ExitTimeout     = 8 // a --wait (or a replay's progress) ran out before the work finished
	ExitChecks      = 9 // conformance: a check failed
)

const exitCodesHelp = `Exit codes: 0 ok; 1 unreachable, internal error or unexpected answer; 2 usage;
3 unauthenticated or forbidden (401/403); 4 not found (404); 5 refused: invalid or conflicting (400/409/413);
6 rate limited (429); 7 a peer failed (502/504); 8 a wait ran out; 9 a conformance check failed.`

// Env is what the command reads from its surroundings; tests pass their own.
type Env struct {
	Stdout, Stderr io.Writer
	Stdin          io.Reader
	Getenv         func(string) string
	// HTTP is the client for every call (nil: a client with the --timeout).
	HTTP *http.Client
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// OSEnv is the process's own environment.
func OSEnv() Env {
	return Env{Stdout: os.Stdout, Stderr: os.Stderr, Stdin: os.Stdin, Getenv: os.Getenv}
}

// exitError carries an exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitWith(code int, format string, args ...any) error {
	return &exitError{code: code, err: fmt.Errorf(format, args...)}
}

// Main runs the command line args and returns the exit code.
func Main(ctx context.Context, args []string, env Env) int {
	if env.Getenv == nil {
		env.Getenv = func(string) string { return "" }
	}
	if env.Now == nil {
		env.Now = time.Now
	}
	if env.Stdin == nil {
		env.Stdin = strings.NewReader("")
	}
	app := &app{env: env}
	root := app.rootCommand()
	root.SetArgs(args)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var apiErr *APIError
	var exit *exitError
	switch {
	case errors.As(err, &apiErr):
		app.printAPIError(apiErr)
		return apiErr.ExitCode()
	case errors.As(err, &exit):
		if exit.err.Error() != "" {
			fmt.Fprintln(env.Stderr, "fedgate:", printable(exit.err.Error()))
		}
		return exit.code
	case isUsage(err):
		fmt.Fprintln(env.Stderr, "fedgate:", err)
		fmt.Fprintln(env.Stderr, "Run 'fedgate --help' for usage.")
		return ExitUsage
	}
	fmt.Fprintln(env.Stderr, "fedgate:", printable(err.Error()))
	return ExitError
}

// usageError marks an error in the command line.
type usageError struct{ error }

func isUsage(err error) bool {
	var u usageError
	if errors.As(err, &u) {
		return true
	}
	// cobra's own argument and flag errors.
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand", "accepts ", "requires at least",
		"flag needs an argument", "invalid argument", "required flag"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// app holds the resolved global options of one run.
type app struct {
	env     Env
	url     string
	token   string
	profile string
	json    bool
	timeout time.Duration
	client  *Client
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "fedgate",
		Short: "Operate a fedgate instance: connections, events, commands, agents, and a conformance suite for any peer",
		Long: `fedgate drives one instance's user API (PROTOCOL.md). Choose the instance with --url/--token,
FEDGATE_URL/FEDGATE_TOKEN, or a profile (--profile, FEDGATE_PROFILE; file: FEDGATE_CONFIG or
~/.config/fedgate/config.json). Answers print as tables; --json prints the instance's JSON.
Errors print the PROTOCOL error code and request id.

` + exitCodesHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.CompletionOptions.DisableDefaultCmd = true
	pf := root.PersistentFlags()
	pf.StringVar(&a.url, "url", "", "instance base URL, e.g. https://fed.example.org (env FEDGATE_URL)")
	pf.StringVar(&a.token, "token", "", "bearer JWT (env FEDGATE_TOKEN)")
	pf.StringVar(&a.profile, "profile", "", "profile of the config file (env FEDGATE_PROFILE; default: \"default\")")
	pf.BoolVar(&a.json, "json", false, "print JSON instead of tables")
	pf.DurationVar(&a.timeout, "timeout", 60*time.Second, "timeout of each HTTP request")
	root.AddGroup(&cobra.Group{ID: "api", Title: "Instance API:"}, &cobra.Group{ID: "tools", Title: "Tools:"})
	for _, c := range []*cobra.Command{
		a.instanceCommand(), a.connectionsCommand(), a.subscriptionsCommand(), a.publishCommand(), a.messagesCommand(),
		a.replayCommand(), a.redeliverCommand(), a.commandsCommand(), a.queriesCommand(), a.agentsCommand(),
		a.operationsCommand(),
	} {
		c.GroupID = "api"
		root.AddCommand(c)
	}
	for _, c := range []*cobra.Command{a.conformanceCommand(), a.devCommand(), a.profileCommand()} {
		c.GroupID = "tools"
		root.AddCommand(c)
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	return root
}

// api returns the client of the chosen instance.
func (a *app) api() (*Client, error) {
	if a.client != nil {
		return a.client, nil
	}
	// Flags first (an explicit --profile beats the environment), then
	// FEDGATE_URL / FEDGATE_TOKEN, then FEDGATE_PROFILE or "default".
	url, token := a.url, a.token
	if a.profile != "" {
		p, err := a.loadProfile()
		if err != nil {
			return nil, err
		}
		url, token = cmp.Or(url, p.URL), cmp.Or(token, p.Token)
	}
	if url == "" {
		url = a.env.Getenv("FEDGATE_URL")
	}
	if token == "" {
		token = a.env.Getenv("FEDGATE_TOKEN")
	}
	if url == "" || token == "" {
		p, err := a.loadProfile()
		if err != nil {
			return nil, err
		}
		if url == "" {
			url = p.URL
		}
		if token == "" {
			token = p.Token
		}
	}
	if url == "" {
		return nil, usagef("no instance: set --url, FEDGATE_URL or a profile")
	}
	hc := a.env.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: a.timeout}
	}
	c, err := NewClient(url, token, hc)
	if err != nil {
		return nil, usageError{err}
	}
	a.client = c
	return c, nil
}
