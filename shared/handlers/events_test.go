package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/fedgate/fedgate/shared/app/apptest"
	"github.com/fedgate/fedgate/shared/httpapi"
	"github.com/fedgate/fedgate/shared/routes"
)

func readEvent(t *testing.T, name string, v any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "events", name+".json"))
	if err != nil {
		t.Fatalf("sample event for %s: %v", name, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("sample event for %s: %v", name, err)
	}
}

// loadEvent reads events/<name>.json, the sample request for a function.
func loadEvent(t *testing.T, name string) httpapi.Request {
	t.Helper()
	var req httpapi.Request
	readEvent(t, name, &req)
	return req
}

// sampleStatus is what each sample gets from a fresh instance: the ids in
// the samples do not exist there, the signed samples carry a timestamp of
// the past, and the sample peer does not resolve.
var sampleStatus = map[string]int{
	"connections-initiate":      http.StatusBadGateway,
	"not-found":                 http.StatusNotFound,
	"connections-get":           http.StatusNotFound,
	"connections-accept":        http.StatusNotFound,
	"connections-reject":        http.StatusNotFound,
	"connections-disconnect":    http.StatusNotFound,
	"connections-suspend":       http.StatusNotFound,
	"connections-resume":        http.StatusNotFound,
	"connections-invite":        http.StatusCreated,
	"incoming-connect":          http.StatusUnauthorized,
	"incoming-connect-response": http.StatusUnauthorized,
	"incoming-disconnect":       http.StatusUnauthorized,
	"incoming-query":            http.StatusUnauthorized,
	"incoming-command":          http.StatusUnauthorized,
	"incoming-command-response": http.StatusUnauthorized,
	"query-send":                http.StatusNotFound,
	"queries-get":               http.StatusNotFound,
	"command-send":              http.StatusNotFound,
	"commands-get":              http.StatusNotFound,
	"commands-attempts":         http.StatusNotFound,
	"events-messages-attempts":  http.StatusNotFound,
	"agents-spawn":              http.StatusNotFound,
	"agents-get":                http.StatusNotFound,
	"agents-kill":               http.StatusNotFound,
	"events-subscribe":          http.StatusNotFound,
	"events-unsubscribe":        http.StatusNotFound,
	"events-publish":            http.StatusAccepted,
	"events-messages-get":       http.StatusNotFound,
	"events-redeliver":          http.StatusNotFound,
	"events-replay":             http.StatusNotFound,
	"incoming-event":            http.StatusUnauthorized,
	"incoming-event-ack":        http.StatusUnauthorized,
}

// Every function has a sample event in events/, and its handler answers it
// against fresh tables and queues as documented in sampleStatus.
func TestSampleEvents(t *testing.T) {
	a := apptest.New(t)
	for _, r := range routes.All {
		t.Run(r.Name, func(t *testing.T) {
			ctx := context.Background()
			switch {
			case r.IsHTTP():
				req := loadEvent(t, r.Name)
				if req.RouteKey != r.RouteKey() {
					t.Errorf("sample routeKey %q, route %q", req.RouteKey, r.RouteKey())
				}
				want := http.StatusOK
				if s, ok := sampleStatus[r.Name]; ok {
					want = s
				}
				resp, err := HTTP[r.Name](a)(ctx, req)
				if err != nil || resp.StatusCode != want {
					t.Fatalf("status %d (want %d) err %v body %s", resp.StatusCode, want, err, resp.Body)
				}
			case r.IsQueue():
				var ev events.SQSEvent
				readEvent(t, r.Name, &ev)
				resp, err := SQS[r.Name](a)(ctx, ev)
				if err != nil || len(resp.BatchItemFailures) != 0 {
					t.Fatalf("err %v failures %v", err, resp.BatchItemFailures)
				}
			case r.IsScheduled():
				var ev events.CloudWatchEvent
				readEvent(t, r.Name, &ev)
				if err := Scheduled[r.Name](a)(ctx, ev); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
