package federation

import "github.com/fedgate/fedgate/shared/signing"

// VerifyWith checks an envelope's signature against one published key of a
// peer: unknown_key when the key is unusable, invalid_signature when the
// signature does not verify.
func VerifyWith(k RemoteKey, raw []byte) error {
	alg, err := signing.ParseAlg(k.Alg)
	if err != nil {
		return Errorf(CodeUnknownKey, "key %s has unsupported algorithm %s", k.KeyID, k.Alg)
	}
	pub, err := signing.ParsePublicKeyPEM(alg, k.PublicKey)
	if err != nil {
		return Errorf(CodeUnknownKey, "key %s cannot be parsed", k.KeyID)
	}
	if err := signing.Verify(pub, raw); err != nil {
		return Errorf(CodeInvalidSignature, "signature does not verify with key %s", k.KeyID)
	}
	return nil
}

// ExpectedAnswer is what is checked of a signed answer that comes back in a
// response body (CONNECT_RESPONSE, QUERY_RESPONSE, EVENT_ACK).
type ExpectedAnswer struct {
	Type          string // the envelope type it must be
	CorrelationID string // the message it answers; "" for CONNECT_RESPONSE
}

// Check is the protocol rule for an answer's header: it is of the expected
// type, answers the expected message, and comes on the connection from its
// peer. The signature, freshness and recipient are the verifier's.
func (a ExpectedAnswer) Check(conn *Connection, head Envelope, correlationID string) error {
	if err := head.Check(a.Type); err != nil {
		return Invalidf("%v", err)
	}
	if correlationID != a.CorrelationID || head.ConnectionID != conn.ID || head.InstanceID != conn.RemoteInstanceID {
		return Invalidf("the %s answers another message", a.Type)
	}
	return nil
}
