package trace

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", true},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", true},
		{"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", true}, // a later version may add parts
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", false},
		{"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false},
		{"00-00000000000000000000000000000000-00f067aa0ba902b7-01", false},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", false},
		{"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", false},
		{"00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01", false},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", false},
		{"", false},
		{"garbage", false},
	} {
		c, ok := Parse(tc.in)
		if ok != tc.ok {
			t.Errorf("Parse(%q) ok %v, want %v", tc.in, ok, tc.ok)
		}
		if ok && tc.in[:2] == "00" && c.String() != tc.in {
			t.Errorf("Parse(%q).String() = %q", tc.in, c.String())
		}
	}
}

// A new trace id starts with the time, so it reads as an X-Ray id; its
// children keep the trace and change the span.
func TestNewAndChild(t *testing.T) {
	c := New()
	secs, err := strconv.ParseUint(c.ID()[:8], 16, 32)
	if err != nil || time.Since(time.Unix(int64(secs), 0)) > time.Minute {
		t.Fatalf("trace id %s does not start with the time", c.ID())
	}
	child := c.Child()
	if child.TraceID != c.TraceID || child.SpanID == c.SpanID {
		t.Fatalf("child %s of %s", child, c)
	}
	if back, ok := Parse(c.String()); !ok || back != c {
		t.Fatalf("round trip of %s: %v %v", c, back, ok)
	}
}

// Continue keeps a valid caller's trace and starts one otherwise; Header
// passes on a child of it.
func TestContinueAndHeader(t *testing.T) {
	in := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	ctx := Continue(context.Background(), in)
	if From(ctx).ID() != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Fatalf("continued %s", From(ctx))
	}
	h, ok := Parse(Header(ctx))
	if !ok || h.ID() != From(ctx).ID() || h.SpanID == From(ctx).SpanID {
		t.Fatalf("header %q", Header(ctx))
	}
	if From(Continue(context.Background(), "junk")).IsZero() {
		t.Fatal("no trace started for a malformed traceparent")
	}
	if Header(context.Background()) != "" {
		t.Fatal("a header without a trace")
	}
}

// Every line logged with a traced context names the trace, and carries the
// context's labels unless the logger already has them.
func TestHandler(t *testing.T) {
	traced := Continue(context.Background(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	for _, tt := range []struct {
		name           string
		ctx            context.Context
		with           []any
		traceID, fn    any
		functionFields int
	}{
		{"traced, named by the logger", traced, []any{"function", "x"}, "4bf92f3577b34da6a3ce929d0e0e4736", "x", 1},
		{"untraced", context.Background(), []any{"function", "x"}, nil, "x", 1},
		{"named by the context", Labeled(traced, slog.String("function", "deliver")), nil, "4bf92f3577b34da6a3ce929d0e0e4736", "deliver", 1},
		{"named by both: the logger's", Labeled(context.Background(), slog.String("function", "deliver")), []any{"function", "x"}, nil, "x", 1},
		{"named by neither", context.Background(), []any{"instance", "hub"}, nil, nil, 0},
		{"labels added in two steps", Labeled(Labeled(context.Background(), slog.String("function", "ack")), slog.String("messageId", "m1")), nil, nil, "ack", 1},
		{"a later label replaces one of its key", Labeled(Labeled(context.Background(), slog.String("function", "ack")), slog.String("function", "deliver")), nil, nil, "deliver", 1},
	} {
		var buf bytes.Buffer
		slog.New(NewHandler(slog.NewJSONHandler(&buf, nil))).With(tt.with...).InfoContext(tt.ctx, "line")
		var got map[string]any
		if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got["traceId"] != tt.traceID || got["function"] != tt.fn || strings.Count(buf.String(), `"function"`) != tt.functionFields {
			t.Errorf("%s: line %s", tt.name, buf.String())
		}
	}
	var buf bytes.Buffer
	log := slog.New(NewHandler(slog.NewJSONHandler(&buf, nil)))
	log.InfoContext(Labeled(context.Background(), slog.String("function", "ack")), "line", "function", "own")
	if !strings.Contains(buf.String(), `"function":"own"`) || strings.Count(buf.String(), `"function"`) != 1 {
		t.Errorf("the line's own attribute must win: %s", buf.String())
	}
}
