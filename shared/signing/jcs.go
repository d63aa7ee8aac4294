package signing

import (
	"encoding/json"
	"fmt"

	"github.com/gowebpki/jcs"
)

// Canonicalize returns the RFC 8785 (JCS) form of a JSON text. Duplicate
// object keys and invalid UTF-8 are rejected, so two parties can never
// disagree about what was signed.
func Canonicalize(data []byte) ([]byte, error) {
	out, err := jcs.Transform(data)
	if err != nil {
		return nil, fmt.Errorf("canonicalize: %w", err)
	}
	return out, nil
}

// SigningInput is the byte string an envelope's signature covers: the JSON
// object with its "signature" member removed, canonicalized with JCS.
func SigningInput(envelope []byte) ([]byte, error) {
	members, err := objectMembers(envelope)
	if err != nil {
		return nil, err
	}
	delete(members, "signature")
	stripped, err := json.Marshal(members)
	if err != nil {
		return nil, fmt.Errorf("re-encode envelope: %w", err)
	}
	return Canonicalize(stripped)
}
