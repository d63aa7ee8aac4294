package metrics

import "time"

// fedgate's metrics (PROTOCOL.md §9): their names and dimensions, which the
// stack's dashboard and alarms graph (infra/dashboard.go reads these).
const (
	NameDeliveries          = "Deliveries"          // Count; Peer, Outcome (delivered|rejected|failed|held)
	NameDeliveryLatency     = "DeliveryLatency"     // Milliseconds; Peer: a message's creation to DELIVERED
	NameAckLatency          = "AckLatency"          // Milliseconds; Peer: a peer's 202 to its EVENT_ACK
	NameAttemptsPerDelivery = "AttemptsPerDelivery" // Count; Peer: once, when a delivery ends
	NameCircuitChanges      = "CircuitChanges"      // Count; Peer, State (open|closed)
	NameIncomingEnvelopes   = "IncomingEnvelopes"   // Count; Type, Outcome (accepted|duplicate|refused), Code
	NameRateLimited         = "RateLimited"         // Count; Limit (peer|workspace)

	DimInstance = "Instance"
	DimPeer     = "Peer" // a peer's origin, https://spoke.example.org
	DimOutcome  = "Outcome"
	DimState    = "State"
	DimType     = "Type"
	DimCode     = "Code" // a PROTOCOL error code, or "none"
	DimLimit    = "Limit"
)

// Delivery counts one attempt's outcome to peer.
func (r *Recorder) Delivery(peer, outcome string) {
	r.Count(NameDeliveries, DimPeer, peer, DimOutcome, outcome)
}

// Delivered records how long a delivery to peer took from its creation and
// how many attempts it needed.
func (r *Recorder) Delivered(peer string, took time.Duration, attempts int) {
	r.Duration(NameDeliveryLatency, took, DimPeer, peer)
	r.Ended(peer, attempts)
}

// Ended records the attempts of a delivery that ended (delivered or not).
func (r *Recorder) Ended(peer string, attempts int) {
	r.Add(NameAttemptsPerDelivery, float64(attempts), Count, DimPeer, peer)
}

// AckLatency records the wait from a peer's 202 to its EVENT_ACK.
func (r *Recorder) AckLatency(peer string, d time.Duration) {
	r.Duration(NameAckLatency, d, DimPeer, peer)
}

// Circuit counts a peer's circuit changing to state (open or closed).
func (r *Recorder) Circuit(peer, state string) {
	r.Count(NameCircuitChanges, DimPeer, peer, DimState, state)
}

// Incoming counts an incoming envelope of envType: accepted, duplicate or
// refused with code.
func (r *Recorder) Incoming(envType, outcome, code string) {
	if code == "" {
		code = "none"
	}
	r.Count(NameIncomingEnvelopes, DimType, envType, DimOutcome, outcome, DimCode, code)
}

// Limited counts a call answered 429 by limit (peer or workspace).
func (r *Recorder) Limited(limit string) { r.Count(NameRateLimited, DimLimit, limit) }
