package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/fedgate/fedgate/shared/events"
	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/openapi"
)

func (a *app) replayCommand() *cobra.Command {
	var since, until, eventType string
	var wait, interval time.Duration
	cmd := &cobra.Command{Use: "replay CONNECTION --since TIME", Short: "Send a peer the events of a window again, following their delivery",
		Long: `Replays the events this workspace published in the window (PROTOCOL.md §8) to the connection's peer,
as new deliveries, then follows them with a progress bar until every one is DELIVERED or FAILED
(--wait 0 returns at once). TIME is RFC 3339 (2026-11-27T10:00:00Z) or a duration ago (2h).`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			now := a.env.Now()
			from, err := parseWhen("--since", since, now)
			if err != nil {
				return err
			}
			in := events.ReplayInput{ConnectionID: args[0], Since: &from, EventType: eventType}
			if until != "" {
				to, err := parseWhen("--until", until, now)
				if err != nil {
					return err
				}
				in.Until = &to
			}
			// Replayed deliveries are new OUTBOUND messages carrying replayOf,
			// made after the call; the ones already there are left out.
			start := now.Add(-time.Minute)
			before, err := a.replayed(c, args[0], start, nil)
			if err != nil && wait > 0 {
				return err
			}
			ans, err := a.call(c, "POST", "/events/replay", nil, in)
			if err != nil {
				return err
			}
			var r openapi.Replayed
			if err := ans.Decode(&r); err != nil {
				return err
			}
			if wait <= 0 || r.Deliveries == 0 {
				return a.show(c, ans, func(w io.Writer) error { return fields(w, "deliveries", r.Deliveries) })
			}
			started := serverTime(ans, now).Add(-time.Minute)
			bar := newProgress(a.env.Stderr, r.Deliveries)
			deadline := a.env.Now().Add(wait)
			var p replayProgress
			for {
				p, err = a.replayed(c, args[0], started, before.ids)
				if err != nil {
					return err
				}
				bar.show(p.delivered, p.failed)
				if p.delivered+p.failed >= r.Deliveries || !a.env.Now().Before(deadline) {
					break
				}
				if err := sleep(c.Context(), interval); err != nil {
					return err
				}
			}
			bar.done()
			out := map[string]any{"deliveries": r.Deliveries, "delivered": p.delivered, "failed": p.failed, "pending": max(0, r.Deliveries-p.delivered-p.failed)}
			if a.json {
				if err := printValue(c.OutOrStdout(), out); err != nil {
					return err
				}
			} else if err := fields(c.OutOrStdout(), "deliveries", r.Deliveries, "delivered", p.delivered, "failed", p.failed); err != nil {
				return err
			}
			switch {
			case p.delivered+p.failed < r.Deliveries:
				return exitWith(ExitTimeout, "%d of %d replayed deliveries still pending after %s", r.Deliveries-p.delivered-p.failed, r.Deliveries, wait)
			case p.failed > 0:
				return exitWith(ExitError, "%d of %d replayed deliveries failed (see fedgate messages list --status FAILED)", p.failed, r.Deliveries)
			}
			return nil
		}}
	cmd.Flags().StringVar(&since, "since", "", "start of the window (RFC 3339, or a duration ago such as 2h)")
	cmd.Flags().StringVar(&until, "until", "", "end of the window (default: now)")
	cmd.Flags().StringVar(&eventType, "event-type", "", "only events matching this type or pattern (default: the connection's subscriptions)")
	cmd.Flags().DurationVar(&wait, "wait", 30*time.Minute, "follow the deliveries up to this long (0: return at once)")
	cmd.Flags().DurationVar(&interval, "interval", time.Second, "how often to look at the deliveries")
	_ = cmd.MarkFlagRequired("since")
	return cmd
}

func parseWhen(flag, s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d).UTC(), nil
	}
	return time.Time{}, usagef("%s %q is neither RFC 3339 nor a duration such as 2h", flag, s)
}

type replayProgress struct {
	delivered, failed int
	ids               map[string]bool // every replayed delivery seen
}

// replayed counts the replayed deliveries on a connection made since start
// and not in skip, walking the OUTBOUND event messages newest first until
// older ones.
func (a *app) replayed(c *cobra.Command, connID string, start time.Time, skip map[string]bool) (replayProgress, error) {
	p := replayProgress{ids: map[string]bool{}}
	q := listQuery("direction", federation.Outbound, "limit", "100")
	for {
		page, _, err := pages[federation.Message](a, c, "/events/messages", q, false)
		if err != nil {
			return p, err
		}
		for _, m := range page.Items {
			if m.CreatedAt.Before(start) {
				return p, nil
			}
			if m.ConnectionID != connID || m.ReplayOf == "" || skip[m.ID] {
				continue
			}
			p.ids[m.ID] = true
			switch m.Status {
			case federation.MsgDelivered, federation.MsgCompleted:
				p.delivered++
			case federation.MsgFailed, federation.MsgTimeout:
				p.failed++
			}
		}
		if page.NextCursor == "" {
			return p, nil
		}
		q = cloneValues(q)
		q.Set("cursor", page.NextCursor)
	}
}

// progress draws a bar on a terminal, or a line per change elsewhere.
type progress struct {
	w        io.Writer
	total    int
	terminal bool
	last     string
}

func newProgress(w io.Writer, total int) *progress {
	p := &progress{w: w, total: total}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.terminal = true
		}
	}
	return p
}

func (p *progress) show(delivered, failed int) {
	const width = 30
	done := min(delivered+failed, p.total)
	filled := width * done / max(p.total, 1)
	line := fmt.Sprintf("replay [%s%s] %d/%d delivered", strings.Repeat("#", filled), strings.Repeat(".", width-filled), delivered, p.total)
	if failed > 0 {
		line += fmt.Sprintf(", %d failed", failed)
	}
	if line == p.last {
		return
	}
	p.last = line
	if p.terminal {
		fmt.Fprint(p.w, "\r"+line)
		return
	}
	fmt.Fprintln(p.w, line)
}

func (p *progress) done() {
	if p.terminal {
		fmt.Fprintln(p.w)
	}
}
