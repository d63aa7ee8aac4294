package store

import "errors"

// Errors callers branch on. Repositories wrap them with context.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	ErrConflict = errors.New("concurrent or illegal change")
	// ErrPrecondition: a Write of a transaction (an invite, say) did not meet its condition.
	ErrPrecondition = errors.New("precondition failed")
	// ErrBadCursor is returned for a cursor that this list did not hand out.
	ErrBadCursor = errors.New("invalid cursor")
	// ErrTooLarge: the item would pass DynamoDB's 400 KB limit; it is refused
	// before anything is written.
	ErrTooLarge = errors.New("item too large to store")
)

// ErrLiveConnection is wrapped by Connections.Create when the workspace
// already has a live connection to the remote; Existing names it.
type ErrLiveConnection struct{ Existing string }

func (e *ErrLiveConnection) Error() string {
	return "a live connection to this instance exists: " + e.Existing
}

// ErrDuplicate is returned by Messages.CreateIncoming when the envelope was
// seen before on the connection; the first answer comes with it.
type ErrDuplicate struct{ First Outcome }

func (e *ErrDuplicate) Error() string { return "duplicate message" }
