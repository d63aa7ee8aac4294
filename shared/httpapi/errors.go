package httpapi

import (
	"net/http"

	"github.com/fedgate/fedgate/shared/federation"
)

// statusOf is the HTTP status of each PROTOCOL error code (§1). This table
// is the only place where a failure becomes an HTTP status.
var statusOf = map[federation.Code]int{
	federation.CodeInvalidJSON:       http.StatusBadRequest,
	federation.CodeValidation:        http.StatusBadRequest,
	federation.CodeUnauthenticated:   http.StatusUnauthorized,
	federation.CodeInvalidSignature:  http.StatusUnauthorized,
	federation.CodeStaleTimestamp:    http.StatusUnauthorized,
	federation.CodeUnknownKey:        http.StatusUnauthorized,
	federation.CodeWrongRecipient:    http.StatusUnauthorized,
	federation.CodeForbidden:         http.StatusForbidden,
	federation.CodeNotActive:         http.StatusForbidden,
	federation.CodeCommandNotAllowed: http.StatusForbidden,
	federation.CodeQueryNotAllowed:   http.StatusForbidden,
	federation.CodeLimitExceeded:     http.StatusForbidden,
	federation.CodeNotFound:          http.StatusNotFound,
	federation.CodeConflict:          http.StatusConflict,
	federation.CodeConnectionEnded:   http.StatusGone,
	federation.CodePayloadTooLarge:   http.StatusRequestEntityTooLarge,
	federation.CodeRateLimited:       http.StatusTooManyRequests,
	federation.CodeRemoteUnreachable: http.StatusBadGateway,
	federation.CodeRemoteRejected:    http.StatusBadGateway,
	federation.CodeRemoteTimeout:     http.StatusGatewayTimeout,
	federation.CodeInternal:          http.StatusInternalServerError,
}

// Status returns the HTTP status of a PROTOCOL error code.
func Status(code federation.Code) int {
	if s, ok := statusOf[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Shorthands for the plumbing's own errors.
func invalidJSON(format string, args ...any) *federation.Error {
	return federation.Errorf(federation.CodeInvalidJSON, format, args...)
}

// Unauthenticated is the answer for a user route without a valid token.
func Unauthenticated(format string, args ...any) *federation.Error {
	return federation.Errorf(federation.CodeUnauthenticated, format, args...)
}

// PayloadTooLarge is the answer for a body over limit bytes.
func PayloadTooLarge(limit int) *federation.Error {
	return federation.Errorf(federation.CodePayloadTooLarge, "body is larger than %d bytes", limit)
}

// internalError is what a caller sees of a bug: nothing about its cause.
var internalError = federation.Errorf(federation.CodeInternal, "internal error")

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
