package federation

import (
	"errors"
	"fmt"
	"time"
)

// Code is an error code of PROTOCOL.md §1. Use cases and the verifier return
// *Error with one of them; only the HTTP layer turns a code into a status.
type Code string

// The error codes of PROTOCOL.md §1.
const (
	CodeInvalidJSON       Code = "invalid_json"
	CodeValidation        Code = "validation_failed"
	CodeUnauthenticated   Code = "unauthenticated"
	CodeInvalidSignature  Code = "invalid_signature"
	CodeStaleTimestamp    Code = "stale_timestamp"
	CodeUnknownKey        Code = "unknown_key"
	CodeWrongRecipient    Code = "wrong_recipient"
	CodeForbidden         Code = "forbidden"
	CodeNotActive         Code = "connection_not_active"
	CodeCommandNotAllowed Code = "command_not_allowed"
	CodeQueryNotAllowed   Code = "query_not_allowed"
	CodeLimitExceeded     Code = "limit_exceeded"
	CodeNotFound          Code = "not_found"
	CodeConflict          Code = "conflict"
	CodeConnectionEnded   Code = "connection_ended"
	CodePayloadTooLarge   Code = "payload_too_large"
	CodeRateLimited       Code = "rate_limited"
	CodeRemoteUnreachable Code = "remote_unreachable"
	CodeRemoteTimeout     Code = "remote_timeout"
	CodeRemoteRejected    Code = "remote_rejected"
	CodeInternal          Code = "internal"
)

// Error is a failure the caller (a user or a peer) is told about, with its
// PROTOCOL code and a message that names what was wrong.
type Error struct {
	Code       Code
	Message    string
	RetryAfter time.Duration // for rate_limited
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Errorf builds an *Error.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// AsError returns err as an *Error when it is one.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// HasCode reports whether err is an *Error with code.
func HasCode(err error, code Code) bool {
	e, ok := AsError(err)
	return ok && e.Code == code
}

// Shorthands for the codes use cases return most.

// Invalidf is validation_failed: a field is missing or malformed (name it).
func Invalidf(format string, args ...any) *Error { return Errorf(CodeValidation, format, args...) }

// NotFoundf is not_found: an unknown id in the caller's workspace.
func NotFoundf(format string, args ...any) *Error { return Errorf(CodeNotFound, format, args...) }

// Conflictf is conflict: a state transition that is not allowed.
func Conflictf(format string, args ...any) *Error { return Errorf(CodeConflict, format, args...) }

// Forbiddenf is forbidden: authenticated but not allowed.
func Forbiddenf(format string, args ...any) *Error { return Errorf(CodeForbidden, format, args...) }
