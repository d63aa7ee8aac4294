package federation

import "slices"

// MsgStatus is a message's status (PROTOCOL.md §4). It is a type of its own
// so that a connection status can never be compared with or stored as one.
type MsgStatus string

// Message statuses (PROTOCOL.md §4).
const (
	MsgPending   MsgStatus = "PENDING"
	MsgRetrying  MsgStatus = "RETRYING"
	MsgDelivered MsgStatus = "DELIVERED"
	MsgCompleted MsgStatus = "COMPLETED"
	MsgFailed    MsgStatus = "FAILED"
	MsgTimeout   MsgStatus = "TIMEOUT"
	MsgIgnored   MsgStatus = "IGNORED"
)

// MessageStatuses lists every message status, for validation.
var MessageStatuses = []MsgStatus{MsgPending, MsgRetrying, MsgDelivered, MsgCompleted, MsgFailed, MsgTimeout, MsgIgnored}

// Final reports whether a message with this status never changes again,
// whatever its kind. (An event delivery also ends at DELIVERED: Settled.)
func (s MsgStatus) Final() bool {
	switch s {
	case MsgCompleted, MsgFailed, MsgTimeout, MsgIgnored:
		return true
	}
	return false
}

// messageMoves is the message lifecycle: the status changes a message may
// make. A message starts PENDING (an incoming EVENT starts DELIVERED or
// IGNORED, an incoming QUERY COMPLETED) and moves:
//
//	PENDING ─▶ RETRYING ⟲ ─▶ DELIVERED ─▶ COMPLETED | FAILED | TIMEOUT (a COMMAND's answer)
//	   │           │             (an event or control envelope ends at DELIVERED)
//	   └───────────┴──▶ COMPLETED | FAILED | TIMEOUT
//
// An EVENT answered 202 is PENDING again (sent, its EVENT_ACK to come).
var messageMoves = map[MsgStatus][]MsgStatus{
	MsgPending:   {MsgPending, MsgRetrying, MsgDelivered, MsgCompleted, MsgFailed, MsgTimeout},
	MsgRetrying:  {MsgPending, MsgRetrying, MsgDelivered, MsgCompleted, MsgFailed, MsgTimeout},
	MsgDelivered: {MsgCompleted, MsgFailed, MsgTimeout},
}

// CanMove reports whether a message may change from one status to another.
func CanMove(from, to MsgStatus) bool { return slices.Contains(messageMoves[from], to) }

// A Step is one named move of the message lifecycle: the statuses it may
// start from and the status it leaves (To "" keeps the status). Every status
// change of a stored message is one of the steps below, so no caller chooses
// its own statuses; the store applies a step with one conditional write.
type Step struct {
	Name string
	From []MsgStatus
	To   MsgStatus
}

var (
	// sending: the message is still to be sent (or sent again).
	sending = []MsgStatus{MsgPending, MsgRetrying}
	// awaiting: sent or being sent, its answer (a response, a result) to come.
	awaiting = []MsgStatus{MsgPending, MsgRetrying, MsgDelivered}
	// unsettled: every status that may still change.
	unsettled = []MsgStatus{MsgPending, MsgRetrying, MsgDelivered}
)

// The steps of the message lifecycle.
var (
	// StepRetry: an attempt failed (or the backend asked to wait) and another follows.
	StepRetry = Step{Name: "retry", From: sending, To: MsgRetrying}
	// StepHold: the message waits without an attempt (its peer's circuit,
	// pace or slots); only its bookkeeping changes.
	StepHold = Step{Name: "hold", From: sending}
	// StepAwaitAck: an EVENT answered 202; its EVENT_ACK comes later.
	StepAwaitAck = Step{Name: "await ack", From: sending, To: MsgPending}
	// StepDeliver: the peer has it (2xx, or the late EVENT_ACK arrived).
	StepDeliver = Step{Name: "delivered", From: sending, To: MsgDelivered}
	// StepFail: refused for good, or the retry budget is spent.
	StepFail = Step{Name: "fail", From: sending, To: MsgFailed}
	// StepAckOverdue: an EVENT answered 202 got no EVENT_ACK in time; it is
	// sent again.
	StepAckOverdue = Step{Name: "ack overdue", From: []MsgStatus{MsgPending}, To: MsgRetrying}
	// StepComplete: a COMMAND or QUERY was answered with success (or an
	// incoming COMMAND ran).
	StepComplete = Step{Name: "complete", From: awaiting, To: MsgCompleted}
	// StepAnswerFailed: it was answered with success false.
	StepAnswerFailed = Step{Name: "answer failed", From: awaiting, To: MsgFailed}
	// StepTimeout: no answer within the command timeout.
	StepTimeout = Step{Name: "time out", From: awaiting, To: MsgTimeout}
	// StepDeadLetter: its job reached a dead-letter queue before it was sent.
	StepDeadLetter = Step{Name: "dead-letter", From: sending, To: MsgFailed}
	// StepNote: bookkeeping of an unsettled message (its outbox marker,
	// deadline, attempt record) without a status change.
	StepNote = Step{Name: "note", From: unsettled}
	// StepStamp: bookkeeping that applies whatever the status, even a
	// final one (taking a settled message off an index).
	StepStamp = Step{Name: "stamp", From: MessageStatuses}
)

// Steps lists every step, for the lifecycle's tests.
var Steps = []Step{StepRetry, StepHold, StepAwaitAck, StepDeliver, StepFail, StepAckOverdue, StepComplete,
	StepAnswerFailed, StepTimeout, StepDeadLetter, StepNote, StepStamp}

// Only narrows the step to start from status s alone (nothing, when the step
// never starts there): a change decided on the status just read must not
// apply to a message that moved meanwhile.
func (st Step) Only(s MsgStatus) Step {
	if slices.Contains(st.From, s) {
		st.From = []MsgStatus{s}
	} else {
		st.From = nil
	}
	return st
}

// Settled reports whether nothing more happens to the message: its status is
// final, or it is a delivered event or control envelope (a COMMAND that was
// DELIVERED still waits for its COMMAND_RESPONSE).
func (m *Message) Settled() bool {
	return m.Status.Final() || (m.Status == MsgDelivered && m.MessageType != TypeCommand)
}

// Sent reports whether nothing is left to send of an outgoing message: it
// is settled, delivered, or answered 202 and waiting for its EVENT_ACK.
func (m *Message) Sent() bool {
	return m.Settled() || m.Status == MsgDelivered || m.DeliveredAt != nil
}
