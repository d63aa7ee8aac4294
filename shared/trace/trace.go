// Package trace carries W3C Trace Context (PROTOCOL.md §9 "Tracing") through
// fedgate: a user call or publish starts a trace (or continues the caller's
// `traceparent`), queue jobs and stored messages carry it, envelopes carry it
// to peers inside the signature, and every log line written with a context
// names its traceId. One event can then be followed from the publish on one
// instance to the store of another.
//
// New trace ids begin with the Unix time in seconds (8 hex digits), the form
// AWS X-Ray trace ids have, so a trace id reads as an X-Ray one too:
// 1-<first 8>-<last 24>.
package trace

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// Context is one position in a trace: the trace and the span that is the
// parent of whatever happens next.
type Context struct {
	TraceID [16]byte
	SpanID  [8]byte
	Flags   byte
}

// New starts a trace (sampled).
func New() Context {
	var c Context
	_, _ = rand.Read(c.TraceID[4:])
	binary.BigEndian.PutUint32(c.TraceID[:4], uint32(time.Now().Unix()))
	_, _ = rand.Read(c.SpanID[:])
	c.Flags = 1
	return c
}

// Parse reads a traceparent header: "00-<32 hex>-<16 hex>-<2 hex>". Version
// ff, all-zero ids and malformed values are refused (ok false), as the
// specification says a receiver must.
func Parse(s string) (Context, bool) {
	var c Context
	parts := strings.Split(strings.TrimSpace(s), "-")
	if len(parts) < 4 || len(parts[0]) != 2 || parts[0] == "ff" || (parts[0] == "00" && len(parts) != 4) {
		return c, false
	}
	if len(parts[1]) != 32 || len(parts[2]) != 16 || len(parts[3]) != 2 || !lowerHex(strings.Join(parts[:4], "-")) {
		return c, false
	}
	if _, err := hex.Decode(c.TraceID[:], []byte(parts[1])); err != nil {
		return c, false
	}
	if _, err := hex.Decode(c.SpanID[:], []byte(parts[2])); err != nil {
		return c, false
	}
	var flags [1]byte
	if _, err := hex.Decode(flags[:], []byte(parts[3])); err != nil {
		return c, false
	}
	c.Flags = flags[0]
	if c.TraceID == ([16]byte{}) || c.SpanID == ([8]byte{}) {
		return Context{}, false
	}
	return c, true
}

func lowerHex(s string) bool {
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r == '-') {
			return false
		}
	}
	return true
}

// FromID continues the trace whose id is id (32 hex digits) with a new
// span: what a stored message's trace id becomes when its work resumes.
func FromID(id string) (Context, bool) {
	var c Context
	if len(id) != 32 || !lowerHex(id) {
		return c, false
	}
	if _, err := hex.Decode(c.TraceID[:], []byte(id)); err != nil || c.IsZero() {
		return Context{}, false
	}
	c.Flags = 1
	return c.Child(), true
}

// IsZero reports whether c is no trace at all.
func (c Context) IsZero() bool { return c.TraceID == [16]byte{} }

// Child is the same trace with a new span: what c's work passes on.
func (c Context) Child() Context {
	_, _ = rand.Read(c.SpanID[:])
	return c
}

// String is the traceparent header value ("" for no trace).
func (c Context) String() string {
	if c.IsZero() {
		return ""
	}
	return "00-" + hex.EncodeToString(c.TraceID[:]) + "-" + hex.EncodeToString(c.SpanID[:]) + "-" + hex.EncodeToString([]byte{c.Flags})
}

// ID is the trace id as logged (32 hex digits, "" for no trace).
func (c Context) ID() string {
	if c.IsZero() {
		return ""
	}
	return hex.EncodeToString(c.TraceID[:])
}

type key struct{}

// With returns ctx carrying c.
func With(ctx context.Context, c Context) context.Context {
	if c.IsZero() {
		return ctx
	}
	return context.WithValue(ctx, key{}, c)
}

// From returns the trace ctx carries (zero when none).
func From(ctx context.Context) Context {
	c, _ := ctx.Value(key{}).(Context)
	return c
}

// Header is the traceparent to pass on from ctx: a child of its trace, or
// "" without one.
func Header(ctx context.Context) string {
	c := From(ctx)
	if c.IsZero() {
		return ""
	}
	return c.Child().String()
}

// Continue returns ctx carrying the trace of traceparent, or a new trace when
// it is empty or malformed.
func Continue(ctx context.Context, traceparent string) context.Context {
	c, ok := Parse(traceparent)
	if !ok {
		c = New()
	}
	return With(ctx, c)
}

type labelsKey struct{}

// Labeled returns ctx whose log lines also carry attrs, such as the function
// and request id, so the services a handler calls name them without loggers
// of their own (the local runner hosts every function of an instance on one
// logger). A label replaces an earlier one of the same key.
func Labeled(ctx context.Context, attrs ...slog.Attr) context.Context {
	prev, _ := ctx.Value(labelsKey{}).([]slog.Attr)
	labels := slices.DeleteFunc(slices.Clone(prev), func(p slog.Attr) bool {
		return slices.ContainsFunc(attrs, func(a slog.Attr) bool { return a.Key == p.Key })
	})
	return context.WithValue(ctx, labelsKey{}, append(labels, attrs...))
}

// Handler adds traceId to every record logged with a context that carries a
// trace (InfoContext and the like), and the context's labels that neither
// the logger nor the record already carries. After WithGroup they land in
// the group, like every attribute added there.
type Handler struct {
	slog.Handler
	keys    []string // top-level keys added with WithAttrs
	grouped bool
}

// NewHandler wraps h.
func NewHandler(h slog.Handler) Handler { return Handler{Handler: h} }

// Handle adds the trace id and labels and passes the record on.
func (h Handler) Handle(ctx context.Context, r slog.Record) error {
	if c := From(ctx); !c.IsZero() {
		r.AddAttrs(slog.String("traceId", c.ID()))
	}
	labels, _ := ctx.Value(labelsKey{}).([]slog.Attr)
	for _, a := range labels {
		if slices.Contains(h.keys, a.Key) || hasAttr(r, a.Key) {
			continue
		}
		r.AddAttrs(a)
	}
	return h.Handler.Handle(ctx, r)
}

func hasAttr(r slog.Record, key string) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = a.Key == key
		return !found
	})
	return found
}

// WithAttrs keeps the wrapping.
func (h Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	keys := slices.Clip(h.keys)
	if !h.grouped {
		for _, a := range attrs {
			keys = append(keys, a.Key)
		}
	}
	return Handler{Handler: h.Handler.WithAttrs(attrs), keys: keys, grouped: h.grouped}
}

// WithGroup keeps the wrapping.
func (h Handler) WithGroup(name string) slog.Handler {
	return Handler{Handler: h.Handler.WithGroup(name), keys: h.keys, grouped: true}
}

// Label returns the value of the context's label key ("" without one): the
// local runner learns from "function" whose work an AWS call is.
func Label(ctx context.Context, key string) string {
	labels, _ := ctx.Value(labelsKey{}).([]slog.Attr)
	for _, a := range labels {
		if a.Key == key {
			return a.Value.String()
		}
	}
	return ""
}

type remoteKey struct{}

// WithRemote records a peer's trace as the remote parent of ctx's own trace
// (PROTOCOL.md §9): the receiver's work keeps its own trace id, and names
// the peer's as remoteTraceId on its log lines and stored messages, so one
// event is followed across instances without a peer writing into ours.
func WithRemote(ctx context.Context, remote Context) context.Context {
	if remote.IsZero() {
		return ctx
	}
	return Labeled(context.WithValue(ctx, remoteKey{}, remote), slog.String("remoteTraceId", remote.ID()))
}

// Remote is the remote parent recorded in ctx (zero when none).
func Remote(ctx context.Context) Context {
	c, _ := ctx.Value(remoteKey{}).(Context)
	return c
}
