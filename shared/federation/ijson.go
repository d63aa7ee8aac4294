package federation

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
)

// maxSafeInteger is 2^53 − 1, the largest integer every IEEE 754 double
// holds exactly (I-JSON, RFC 7493).
const maxSafeInteger = 1<<53 - 1

// CheckNumbers refuses JSON whose numbers cannot be signed faithfully: an
// integer beyond ±(2^53 − 1) or a number that overflows a double would be
// rounded by the canonicalization (RFC 8785 serializes doubles), so the bytes
// signed would not mean what the sender meant (PROTOCOL.md §3). It names the
// number; malformed JSON is left to the decoder.
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
			return Invalidf("the number %s cannot be represented exactly (integers must be within ±(2^53 − 1), numbers must fit a double)", Shorten(string(n), 40))
		}
	}
}

func faithful(n string) bool {
	if strings.ContainsAny(n, ".eE") {
		_, err := strconv.ParseFloat(n, 64) // only an overflow fails
		return err == nil
	}
	i, err := strconv.ParseInt(n, 10, 64)
	return err == nil && i >= -maxSafeInteger && i <= maxSafeInteger
}
