package signing

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
)

// ErrNoSignature is returned by Verify for an envelope without a signature.
var ErrNoSignature = errors.New("envelope has no signature")

// Sign sets the envelope's "keyId" to key's id, signs the JCS form of the
// object without "signature", and returns the canonical JSON of the signed
// envelope. The input must be a JSON object; any "signature" in it is replaced.
func Sign(key *PrivateKey, envelope []byte) ([]byte, error) {
	members, err := objectMembers(envelope)
	if err != nil {
		return nil, err
	}
	delete(members, "signature")
	members["keyId"], _ = json.Marshal(key.ID())
	unsigned, err := json.Marshal(members)
	if err != nil {
		return nil, fmt.Errorf("encode envelope: %w", err)
	}
	input, err := Canonicalize(unsigned)
	if err != nil {
		return nil, err
	}
	sig, err := key.Sign(input)
	if err != nil {
		return nil, err
	}
	members["signature"], _ = json.Marshal(base64.StdEncoding.EncodeToString(sig))
	signed, err := json.Marshal(members)
	if err != nil {
		return nil, fmt.Errorf("encode envelope: %w", err)
	}
	return Canonicalize(signed)
}

// Verify checks the envelope's "signature" against key. It returns
// ErrNoSignature, ErrInvalidSignature, or an error for input that is not a
// well-formed JSON object.
func Verify(key PublicKey, envelope []byte) error {
	members, err := objectMembers(envelope)
	if err != nil {
		return err
	}
	rawSig, ok := members["signature"]
	if !ok {
		return ErrNoSignature
	}
	var encoded string
	if err := json.Unmarshal(rawSig, &encoded); err != nil || encoded == "" {
		return ErrNoSignature
	}
	sig, err := base64.StdEncoding.Strict().DecodeString(encoded)
	if err != nil {
		return ErrInvalidSignature
	}
	// The members are already parsed and validated: canonicalize them without
	// the signature instead of parsing the envelope again (SigningInput).
	delete(members, "signature")
	stripped, err := json.Marshal(members)
	if err != nil {
		return fmt.Errorf("re-encode envelope: %w", err)
	}
	input, err := Canonicalize(stripped)
	if err != nil {
		return err
	}
	return key.Verify(input, sig)
}

// objectMembers parses a JSON object after JCS validation, so duplicate keys
// and invalid UTF-8 are refused before anything reads the members.
func objectMembers(envelope []byte) (map[string]json.RawMessage, error) {
	canon, err := Canonicalize(envelope)
	if err != nil {
		return nil, err
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(canon, &members); err != nil || members == nil {
		return nil, errors.New("envelope is not a JSON object")
	}
	return members, nil
}
