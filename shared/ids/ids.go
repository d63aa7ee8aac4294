// Package ids makes the random identifiers fedgate hands out.
package ids

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
)

// New returns a random (version 4) UUID, the form of instance, connection and message ids.
func New() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Token returns an unguessable URL-safe secret of n random bytes.
func Token(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
