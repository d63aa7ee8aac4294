package incoming

import (
	"context"
	"testing"
	"time"

	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/httpapi"
)

// FuzzParse: envelope parsing never panics and every refusal is a client
// error with a PROTOCOL code.
func FuzzParse(f *testing.F) {
	now := time.Now().UnixMilli()
	for _, s := range []string{
		`{"messageId":"m","type":"EVENT","instanceId":"i","toInstanceId":"me","toUrl":"https://me.example","connectionId":"c","timestamp":` + itoa(now) + `,"signature":"s"}`,
		`{"messageId":"m","type":"EVENT","instanceId":"i","toInstanceId":"you","connectionId":"c","timestamp":` + itoa(now) + `,"signature":"s","n":9007199254740993}`,
		`{"type":"EVENT"}`, `[]`, `null`, `{"timestamp":"x"}`, `{"timestamp":1e400}`, ``,
	} {
		f.Add([]byte(s))
	}
	v := &Verifier{now: time.Now, self: selfID("me"), origin: "https://me.example"}
	f.Fuzz(func(t *testing.T, in []byte) {
		_, err := v.Parse(context.Background(), in, "EVENT", &federation.EventBody{})
		if err == nil {
			return
		}
		e, ok := federation.AsError(err)
		if !ok || httpapi.Status(e.Code) < 400 || httpapi.Status(e.Code) >= 500 {
			t.Fatalf("Parse(%q) = %v, want a 4xx PROTOCOL error", in, err)
		}
	})
}

func itoa(n int64) string {
	b := []byte{}
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}

// selfID is this instance's id as the verifier learns it.
type selfID string

func (s selfID) ID(context.Context) (string, error) { return string(s), nil }
