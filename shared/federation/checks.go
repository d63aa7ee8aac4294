package federation

import (
	"encoding/json"
	"strings"
)

// Checks collects field problems so that one validation_failed names every
// bad field of an input.
type Checks struct{ problems []string }

// Check records msg for field unless ok.
func (c *Checks) Check(ok bool, field, msg string) {
	if !ok {
		c.problems = append(c.problems, field+" "+msg)
	}
}

// Required records "field is required" when value is blank.
func (c *Checks) Required(field, value string) {
	c.Check(strings.TrimSpace(value) != "", field, "is required")
}

// Object records a problem unless raw is absent, null or a JSON object.
func (c *Checks) Object(field string, raw json.RawMessage) {
	if len(raw) == 0 || string(raw) == "null" {
		return
	}
	var m map[string]json.RawMessage
	c.Check(json.Unmarshal(raw, &m) == nil && m != nil, field, "must be a JSON object")
}

// Err returns a validation_failed *Error naming every problem, or nil.
func (c *Checks) Err() error {
	if len(c.problems) == 0 {
		return nil
	}
	return Invalidf("%s", strings.Join(c.problems, "; "))
}
