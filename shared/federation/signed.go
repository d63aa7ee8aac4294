package federation

import (
	"encoding/json"

	"github.com/fedgate/fedgate/shared/signing"
)

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

// Answer is what is checked of a signed answer that comes back in a
// response body (CONNECT_RESPONSE, QUERY_RESPONSE, EVENT_ACK).
type Answer struct {
	Type          string // the envelope type it must be
	CorrelationID string // the message it answers; "" for CONNECT_RESPONSE
}

// CheckAnswer is the one check of a signed answer, used by every path that
// receives one: it must be of the expected type, answer the expected message,
// come on the connection from its peer, and verify with the key it names
// among the peer's keys. It decodes the answer's members into v (which may be
// nil). Errors are *Error: validation_failed for an answer to something else,
// unknown_key or invalid_signature for one that does not verify.
func CheckAnswer(conn *Connection, want Answer, raw []byte, v any) error {
	var head struct {
		Envelope
		CorrelationID string `json:"correlationId"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return Errorf(CodeInvalidJSON, "the answer is not a JSON envelope")
	}
	if err := head.Check(want.Type); err != nil {
		return Errorf(CodeValidation, "%v", err)
	}
	if head.CorrelationID != want.CorrelationID || head.ConnectionID != conn.ID || head.InstanceID != conn.RemoteInstanceID {
		return Errorf(CodeValidation, "the %s answers another message", want.Type)
	}
	k, ok := conn.RemoteKey(head.KeyID)
	if !ok {
		return Errorf(CodeUnknownKey, "key %s is not a key of instance %s", head.KeyID, conn.RemoteInstanceID)
	}
	if err := VerifyWith(k, raw); err != nil {
		return err
	}
	if v != nil {
		if err := json.Unmarshal(raw, v); err != nil {
			return Errorf(CodeValidation, "%s members: %v", want.Type, err)
		}
	}
	return nil
}
