package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// printAPIError prints a PROTOCOL error: its code and request id first.
func (a *app) printAPIError(e *APIError) {
	if a.json {
		data, _ := json.Marshal(map[string]any{"error": e, "status": e.Status})
		fmt.Fprintln(a.env.Stderr, string(data))
		return
	}
	fmt.Fprintln(a.env.Stderr, "fedgate: error:", e.Error())
}

// printJSON prints raw JSON indented.
func printJSON(w io.Writer, raw []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		_, err := w.Write(append(raw, '\n'))
		return err
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

// printValue prints v as indented JSON.
func printValue(w io.Writer, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return printJSON(w, data)
}

// table prints rows under a header, aligned.
type table struct {
	w    *tabwriter.Writer
	rows int
}

func newTable(w io.Writer, header ...string) *table {
	t := &table{w: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	fmt.Fprintln(t.w, strings.Join(header, "\t"))
	return t
}

func (t *table) row(cells ...any) {
	out := make([]string, len(cells))
	for i, c := range cells {
		out[i] = cell(c)
	}
	fmt.Fprintln(t.w, strings.Join(out, "\t"))
	t.rows++
}

func (t *table) flush() error { return t.w.Flush() }

// cell renders one value for a table: times to the second, empty as "-".
func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return "-"
	case string:
		if x == "" {
			return "-"
		}
		if ts, err := time.Parse(time.RFC3339Nano, x); err == nil {
			return ts.UTC().Format("2006-01-02 15:04:05Z")
		}
		return strings.ReplaceAll(x, "\t", " ")
	case *time.Time:
		if x == nil {
			return "-"
		}
		return x.UTC().Format("2006-01-02 15:04:05Z")
	case time.Time:
		if x.IsZero() {
			return "-"
		}
		return x.UTC().Format("2006-01-02 15:04:05Z")
	case json.RawMessage:
		if len(x) == 0 || string(x) == "null" {
			return "-"
		}
		return clip(string(x), 60)
	case bool:
		if x {
			return "yes"
		}
		return "no"
	}
	return fmt.Sprint(v)
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n-1] + "…"
	}
	return s
}

// fields prints one resource as "name: value" lines.
func fields(w io.Writer, pairs ...any) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for i := 0; i+1 < len(pairs); i += 2 {
		fmt.Fprintf(tw, "%s:\t%s\n", pairs[i], cell(pairs[i+1]))
	}
	return tw.Flush()
}
