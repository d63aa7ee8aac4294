package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/fedgate/fedgate/shared/app"
	"github.com/fedgate/fedgate/shared/app/apptest"
	"github.com/fedgate/fedgate/shared/localaws/awstest"
)

// A line a service logs while it does a function's work names the function
// (and, for an HTTP call, the request id), though services share one logger:
// the local runner hosts every function of an instance in one process.
func TestServiceLogLinesNameTheFunction(t *testing.T) {
	var logs bytes.Buffer
	a := app.New(apptest.Config(t), awstest.Config(t), slog.New(slog.NewJSONHandler(&logs, nil)))
	var ev events.SQSEvent
	readEvent(t, "fanout", &ev)
	if _, err := Fanout(a)(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	req := loadEvent(t, "events-publish")
	if _, err := HTTP["events-publish"](a)(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]string{
		"fan-out job for an unknown event dropped": {"function": "fanout"},
		"event published":                          {"function": "events-publish", "requestId": req.RequestContext.RequestID},
	}
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		msg, _ := rec["msg"].(string)
		attrs, ok := want[msg]
		if !ok {
			continue
		}
		delete(want, msg)
		for k, v := range attrs {
			if rec[k] != v {
				t.Errorf("%q: %s = %v, want %q", msg, k, rec[k], v)
			}
		}
	}
	for msg := range want {
		t.Errorf("no line %q in\n%s", msg, logs.String())
	}
}
