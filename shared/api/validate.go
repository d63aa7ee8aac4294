package api

import (
	"errors"
	"strings"
)

// Validator collects field errors so one response names every bad field.
type Validator struct{ problems []string }

// Check records msg for field unless ok.
func (v *Validator) Check(ok bool, field, msg string) {
	if !ok {
		v.problems = append(v.problems, field+" "+msg)
	}
}

// Required records "field is required" when value is empty.
func (v *Validator) Required(field, value string) {
	v.Check(strings.TrimSpace(value) != "", field, "is required")
}

// Err returns a validation_failed *Error naming every problem, or nil.
func (v *Validator) Err() error {
	if len(v.problems) == 0 {
		return nil
	}
	return ValidationFailed("%s", strings.Join(v.problems, "; "))
}

// AsError returns err as an *Error when it is one.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
