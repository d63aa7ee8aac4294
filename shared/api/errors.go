// Package api is the HTTP plumbing every HTTP function shares: API Gateway v2
// requests in, JSON responses out, the error body of PROTOCOL.md §1, auth
// claims, body limits, validation and structured request logs.
package api

import (
	"fmt"
	"net/http"
)

// Error is an error answered with an HTTP status and a PROTOCOL error code.
type Error struct {
	Status     int
	Code       string
	Message    string
	RetryAfter int // seconds, for 429
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// Errorf builds an *Error.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Constructors for the PROTOCOL.md §1 codes used across handlers.

func InvalidJSON(format string, args ...any) *Error {
	return Errorf(http.StatusBadRequest, "invalid_json", format, args...)
}

func ValidationFailed(format string, args ...any) *Error {
	return Errorf(http.StatusBadRequest, "validation_failed", format, args...)
}

func Unauthenticated(format string, args ...any) *Error {
	return Errorf(http.StatusUnauthorized, "unauthenticated", format, args...)
}

func Forbidden(format string, args ...any) *Error {
	return Errorf(http.StatusForbidden, "forbidden", format, args...)
}

func NotFound(format string, args ...any) *Error {
	return Errorf(http.StatusNotFound, "not_found", format, args...)
}

func Conflict(format string, args ...any) *Error {
	return Errorf(http.StatusConflict, "conflict", format, args...)
}

func PayloadTooLarge(limit int) *Error {
	return Errorf(http.StatusRequestEntityTooLarge, "payload_too_large", "body is larger than %d bytes", limit)
}

// internalError is what a caller sees of a bug: nothing about its cause.
var internalError = Errorf(http.StatusInternalServerError, "internal", "internal error")

// ErrorBody is the JSON error shape of PROTOCOL.md §1.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inner object of ErrorBody.
type ErrorDetail struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"requestId"`
}
