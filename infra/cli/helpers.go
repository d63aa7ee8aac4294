package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/store"
)

// call makes one API call for a command.
func (a *app) call(cmd *cobra.Command, method, path string, query url.Values, body any) (Result, error) {
	api, err := a.api()
	if err != nil {
		return Result{}, err
	}
	return api.Do(cmd.Context(), method, path, query, body)
}

// show prints an answer: its JSON with --json, else what render prints.
func (a *app) show(cmd *cobra.Command, ans Result, render func(w io.Writer) error) error {
	if a.json {
		return printJSON(cmd.OutOrStdout(), ans.Body)
	}
	return render(cmd.OutOrStdout())
}

// rawJSON reads a JSON argument: inline JSON, @file, or @- for stdin.
func (a *app) rawJSON(name, value string) (json.RawMessage, error) {
	if value == "" {
		return nil, nil
	}
	data := []byte(value)
	if path, ok := strings.CutPrefix(value, "@"); ok {
		var err error
		if path == "-" {
			data, err = io.ReadAll(a.env.Stdin)
		} else {
			data, err = os.ReadFile(path)
		}
		if err != nil {
			return nil, usagef("%s: %v", name, err)
		}
	}
	if !json.Valid(data) {
		return nil, usagef("%s must be JSON (inline, @file or @- for stdin)", name)
	}
	return json.RawMessage(data), nil
}

// listQuery builds ?status=&direction=&limit=.
func listQuery(pairs ...string) url.Values {
	q := url.Values{}
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] != "" && pairs[i+1] != "0" {
			q.Set(pairs[i], pairs[i+1])
		}
	}
	return q
}

// pages fetches one page, or every page with all, of a list.
func pages[T any](a *app, cmd *cobra.Command, path string, q url.Values, all bool) (store.Page[T], []byte, error) {
	var out store.Page[T]
	for {
		ans, err := a.call(cmd, "GET", path, q, nil)
		if err != nil {
			return out, nil, err
		}
		var p store.Page[T]
		if err := ans.Decode(&p); err != nil {
			return out, nil, err
		}
		out.Items = append(out.Items, p.Items...)
		out.NextCursor = p.NextCursor
		if !all || p.NextCursor == "" {
			if !all {
				return out, ans.Body, nil
			}
			data, _ := json.Marshal(out)
			return out, data, nil
		}
		q = cloneValues(q)
		q.Set("cursor", p.NextCursor)
	}
}

func cloneValues(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// listFlags are --limit and --all.
type listFlags struct {
	limit  int
	all    bool
	cursor string
}

func (l *listFlags) add(cmd *cobra.Command) {
	cmd.Flags().IntVar(&l.limit, "limit", 0, "page size (1..100; the instance's default is 25)")
	cmd.Flags().BoolVar(&l.all, "all", false, "follow nextCursor through every page")
	cmd.Flags().StringVar(&l.cursor, "cursor", "", "start at this page (a nextCursor)")
}

// query is the list's ?limit=&cursor= plus pairs.
func (l *listFlags) query(pairs ...string) url.Values {
	return listQuery(append(pairs, "limit", fmt.Sprint(l.limit), "cursor", l.cursor)...)
}

// messageTable prints messages.
func messageTable(w io.Writer, items []federation.Message, next string) error {
	t := newTable(w, "ID", "TYPE", "WHAT", "DIRECTION", "STATUS", "ATTEMPTS", "CONNECTION", "CREATED")
	for _, m := range items {
		t.row(m.ID, m.MessageType, what(m), m.Direction, m.Status, m.Attempts, m.ConnectionID, m.CreatedAt)
	}
	if err := t.flush(); err != nil {
		return err
	}
	return nextPage(w, next)
}

func nextPage(w io.Writer, next string) error {
	if next != "" {
		_, err := fmt.Fprintf(w, "(more: --all, or --cursor %s)\n", next)
		return err
	}
	return nil
}

func what(m federation.Message) string {
	switch {
	case m.Query != "":
		return clip(m.Query, 40)
	case m.CommandType != "":
		return m.CommandType
	}
	return m.EventType
}

// messageFields prints one message.
func messageFields(w io.Writer, m federation.Message) error {
	pairs := []any{"id", m.ID, "type", m.MessageType, "what", what(m), "direction", m.Direction, "status", m.Status,
		"connection", m.ConnectionID, "attempts", m.Attempts, "payload", m.Payload, "created", m.CreatedAt,
		"updated", m.UpdatedAt, "delivered", m.DeliveredAt, "completed", m.CompletedAt, "next attempt", m.NextAttemptAt}
	if m.ReplayOf != "" {
		pairs = append(pairs, "replay of", m.ReplayOf)
	}
	if m.Response != nil {
		pairs = append(pairs, "success", m.Response.Success, "data", m.Response.Data)
		if m.Response.Error != "" {
			pairs = append(pairs, "response error", m.Response.Error)
		}
	}
	if m.Error != "" {
		pairs = append(pairs, "error", m.Error)
	}
	return fields(w, pairs...)
}

// waitMessage polls GET path until done(status) or the wait runs out; with
// longPoll the instance waits itself (?waitSeconds=, up to 25 s a call).
func (a *app) waitMessage(cmd *cobra.Command, path string, wait time.Duration, longPoll bool) (Result, federation.Message, error) {
	deadline := a.env.Now().Add(wait)
	for {
		q := url.Values{}
		left := time.Until(deadline)
		if longPoll && left >= time.Second {
			q.Set("waitSeconds", fmt.Sprint(min(int(left/time.Second), 25)))
		}
		ans, err := a.call(cmd, "GET", path, q, nil)
		if err != nil {
			return ans, federation.Message{}, err
		}
		var m federation.Message
		if err := ans.Decode(&m); err != nil {
			return ans, m, err
		}
		if m.Settled() || wait <= 0 {
			return ans, m, nil
		}
		if !a.env.Now().Before(deadline) {
			return ans, m, exitWith(ExitTimeout, "message %s is still %s after %s", m.ID, m.Status, wait)
		}
		if !longPoll || left < time.Second {
			if err := sleep(cmd.Context(), min(500*time.Millisecond, time.Until(deadline))); err != nil {
				return ans, m, err
			}
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
