package federation

import "unicode/utf8"

// MaxPeerText bounds whatever text a peer supplies that the instance keeps or
// shows (an error, an answer excerpt): PROTOCOL.md §9, 1 KiB of UTF-8.
const MaxPeerText = 1024

// Truncate cuts s to at most n bytes, at a character boundary: the cut never
// splits a UTF-8 sequence, so what is kept is as valid as what came in.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

// Shorten is Truncate for text quoted in a message: a cut is marked "…".
func Shorten(s string, n int) string {
	if t := Truncate(s, n); len(t) < len(s) {
		return t + "…"
	}
	return s
}
