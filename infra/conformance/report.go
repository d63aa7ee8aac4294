package conformance

import (
	"fmt"
	"strings"
)

// Check outcomes.
const (
	Pass = "pass"
	Fail = "fail"
	Skip = "skip"
)

// Result is the outcome of one check.
type Result struct {
	Section    string `json:"section"`
	Name       string `json:"name"`
	Status     string `json:"status"`
	Detail     string `json:"detail,omitempty"`
	DurationMs int64  `json:"durationMs"`
}

// Line is the result as one line of text.
func (r Result) Line() string {
	s := fmt.Sprintf("%-4s  %-12s  %s", strings.ToUpper(r.Status), r.Section, r.Name)
	if r.Detail != "" {
		s += " — " + r.Detail
	}
	return s
}

// Report is a whole run.
type Report struct {
	Target           string   `json:"target"`
	TargetInstanceID string   `json:"targetInstanceId,omitempty"`
	PeerURL          string   `json:"peerUrl"`
	Checks           []Result `json:"checks"`
	Passed           int      `json:"passed"`
	Failed           int      `json:"failed"`
	Skipped          int      `json:"skipped"`
}

// Summary is the report's last line.
func (r *Report) Summary() string {
	return fmt.Sprintf("conformance of %s: %d passed, %d failed, %d skipped (of %d checks)",
		r.Target, r.Passed, r.Failed, r.Skipped, len(r.Checks))
}

// Failures lists the names of the failed checks.
func (r *Report) Failures() []string {
	var out []string
	for _, c := range r.Checks {
		if c.Status == Fail {
			out = append(out, c.Section+": "+c.Name)
		}
	}
	return out
}

// Result returns the named check's result.
func (r *Report) Result(section, name string) (Result, bool) {
	for _, c := range r.Checks {
		if c.Section == section && c.Name == name {
			return c, true
		}
	}
	return Result{}, false
}
