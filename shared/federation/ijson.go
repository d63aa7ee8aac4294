package federation

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"math/big"
	"strconv"
)

// CheckNumbers refuses JSON whose numbers cannot be signed faithfully
// (PROTOCOL.md §3, I-JSON): RFC 8785 serializes every number as the double
// it parses to, so a number whose value is an integer that no double equals
// exactly (beyond ±(2^53 − 1): 9007199254740993, however it is written —
// 9007199254740993.0, 9.007199254740993e15) or that overflows a double
// would be signed as another number than the sender meant. Integers a double
// holds (9007199254740992, 1e16, 1e21) and fractions (0.1 means the nearest
// double) are fine. It names the number; malformed JSON is left to the decoder.
func CheckNumbers(raw []byte) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return nil // not JSON: the decoder that reads it reports that
		}
		n, ok := tok.(json.Number)
		if !ok {
			continue
		}
		if !faithful(string(n)) {
			return Invalidf("the number %s cannot be represented exactly (an integer beyond ±(2^53 − 1) that no double equals, or a number beyond a double)", Shorten(string(n), 40))
		}
	}
}

// exactBelow is 2^53: every integer below it in magnitude is a double.
const exactBelow = 1 << 53

func faithful(n string) bool {
	f, err := strconv.ParseFloat(n, 64)
	if err != nil {
		return false // beyond a double (underflow parses to 0 without error)
	}
	if math.Abs(f) < exactBelow {
		return true
	}
	// Large: an integer value must be exactly the double it parses to. The
	// literal's exact value is read as a fraction (its magnitude is bounded
	// by the double range just checked).
	r, ok := new(big.Rat).SetString(n)
	if !ok {
		return false
	}
	if !r.IsInt() {
		return true
	}
	return new(big.Rat).SetFloat64(f).Cmp(r) == 0
}
