// Package metrics writes CloudWatch embedded metric format (EMF) lines: one
// JSON log line per measurement, which CloudWatch Logs turns into metrics
// without an API call (and which `make dev` shows among the other log
// lines). The format is small and documented (CloudWatch Embedded Metric
// Format specification); a library would add a dependency for a dozen lines.
package metrics

import (
	"context"
	"log/slog"
	"slices"
	"time"
)

// Namespace is where fedgate's metrics live.
const Namespace = "Fedgate"

// Units of EMF.
const (
	Count        = "Count"
	Milliseconds = "Milliseconds"
)

// Recorder writes metric lines through a JSON logger. Every line carries the
// Instance dimension, so several instances in one account keep their
// metrics apart.
type Recorder struct {
	log      *slog.Logger
	instance string
	now      func() time.Time
}

// New returns a Recorder writing through log (JSON lines).
func New(log *slog.Logger, instance string) *Recorder {
	return &Recorder{log: log, instance: instance, now: time.Now}
}

// Add records value of metric name with unit, under the Instance dimension
// and dims: further dimensions as name, value pairs ("Peer", "https://…").
// A nil Recorder records nothing.
func (r *Recorder) Add(name string, value float64, unit string, dims ...string) {
	if r == nil || r.log == nil {
		return
	}
	attrs := []slog.Attr{slog.String("Instance", r.instance), slog.Float64(name, value)}
	keys := []string{"Instance"}
	for i := 0; i+1 < len(dims); i += 2 {
		attrs = append(attrs, slog.String(dims[i], dims[i+1]))
		keys = append(keys, dims[i])
	}
	slices.Sort(keys[1:])
	attrs = append(attrs, slog.Any("_aws", map[string]any{
		"Timestamp": r.now().UnixMilli(),
		"CloudWatchMetrics": []any{map[string]any{
			"Namespace":  Namespace,
			"Dimensions": [][]string{keys},
			"Metrics":    []any{map[string]string{"Name": name, "Unit": unit}},
		}},
	}))
	r.log.LogAttrs(context.Background(), slog.LevelInfo, "metric", attrs...)
}

// Count records one occurrence of name.
func (r *Recorder) Count(name string, dims ...string) { r.Add(name, 1, Count, dims...) }

// Duration records d of name in milliseconds.
func (r *Recorder) Duration(name string, d time.Duration, dims ...string) {
	r.Add(name, float64(d.Milliseconds()), Milliseconds, dims...)
}
