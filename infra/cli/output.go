package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"
)

// printAPIError prints a PROTOCOL error: its code and request id first.
func (a *app) printAPIError(e *APIError) {
	if a.json {
		data, _ := json.Marshal(map[string]any{"error": e, "status": e.Status})
		fmt.Fprintln(a.env.Stderr, string(inertJSON(data)))
		return
	}
	fmt.Fprintln(a.env.Stderr, "fedgate: error:", printable(e.Error()))
}

// printJSON prints raw JSON indented, with nothing in it a terminal would
// act on (inertJSON); what is not JSON is printed as text (printable).
func printJSON(w io.Writer, raw []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		_, err := io.WriteString(w, printable(string(raw))+"\n")
		return err
	}
	_, err := w.Write(append(inertJSON(buf.Bytes()), '\n'))
	return err
}

// inertJSON writes every character of valid JSON that a terminal would act
// on (acts) as a \u escape, which is the same JSON to any parser. Go's
// encoder escapes C0 controls but writes C1 controls and bidirectional
// overrides raw, and passes the bytes of a json.RawMessage (a peer's
// payload) on unchecked, so a lone 0x9b (CSI to an 8-bit terminal) can be
// in an answer: a byte that is not UTF-8 becomes \ufffd, as a parser would
// read it. Outside strings valid JSON has only whitespace, so every other
// acting character is inside a string, where an escape is legal.
func inertJSON(data []byte) []byte {
	jsonSpace := func(r rune) bool { return r == ' ' || r == '\n' || r == '\t' || r == '\r' }
	return escapeActing(data, jsonSpace, func(r rune, bad []byte) string {
		if bad != nil {
			return `\ufffd`
		}
		return fmt.Sprintf("\\u%04x", r)
	})
}

// escapeActing returns s with every character that acts (but is not kept)
// and every byte that is not UTF-8 (bad) replaced by esc's text for it.
func escapeActing[T string | []byte](s T, keep func(rune) bool, esc func(r rune, bad []byte) string) T {
	escaped := func(r rune) bool { return acts(r) && !keep(r) }
	str := string(s)
	if utf8.ValidString(str) && !strings.ContainsFunc(str, escaped) {
		return s
	}
	var b strings.Builder
	for rest := str; rest != ""; {
		r, size := utf8.DecodeRuneInString(rest)
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(esc(r, []byte(rest[:1])))
		case escaped(r):
			b.WriteString(esc(r, nil))
		default:
			b.WriteString(rest[:size])
		}
		rest = rest[size:]
	}
	return T(b.String())
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

// cell renders one value for a table: times to the second, empty as "-",
// and nothing a terminal would act on (printable).
func cell(v any) string { return printable(cellText(v)) }

func cellText(v any) string {
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
		return strings.ReplaceAll(x, "\t", " ") // a tab would break the columns
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

// clip shortens s to n characters (not bytes: a cut rune would print as
// garbage).
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) > n {
		return string([]rune(s)[:n-1]) + "…"
	}
	return s
}

// printable is s with every character a terminal would act on written as an
// escape: control characters (ESC starts the sequences that move the cursor,
// clear the screen or set the window title; CR and BS overwrite what was
// printed), and the bidirectional overrides that display text in another
// order than it is. Peer-supplied text (an attempt's error, a command's
// answer) reaches the operator's terminal through the CLI, and a hostile
// peer must not be able to rewrite what the operator sees.
func printable(s string) string {
	return escapeActing(s, func(rune) bool { return false }, func(r rune, bad []byte) string {
		switch {
		case bad != nil:
			return fmt.Sprintf("\\x%02x", bad[0]) // not UTF-8: 0x9b is CSI to an 8-bit terminal
		case r < 0x100:
			return fmt.Sprintf("\\x%02x", r)
		}
		return fmt.Sprintf("\\u%04x", r)
	})
}

// acts reports whether a terminal does something with r besides showing it.
func acts(r rune) bool {
	return unicode.IsControl(r) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) || r == 0x200e || r == 0x200f || r == 0x061c
}

// fields prints one resource as "name: value" lines.
func fields(w io.Writer, pairs ...any) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for i := 0; i+1 < len(pairs); i += 2 {
		fmt.Fprintf(tw, "%s:\t%s\n", pairs[i], cell(pairs[i+1]))
	}
	return tw.Flush()
}
