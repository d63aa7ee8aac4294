// Package handlers holds one handler per function: each decodes the request,
// calls one use case of a capability service and renders the view. Errors
// become PROTOCOL answers in one place (failure); the plumbing is httpapi.
package handlers
