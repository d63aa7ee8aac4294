package metrics

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// A metric line is valid EMF: the metric and its dimensions are declared in
// _aws and their values are members of the same object.
func TestLines(t *testing.T) {
	var buf bytes.Buffer
	r := New(slog.New(slog.NewJSONHandler(&buf, nil)), "hub")
	r.now = func() time.Time { return time.UnixMilli(1764201600000) }
	r.Count("Deliveries", "Outcome", "delivered", "Peer", "https://spoke.example.org")
	r.Duration("DeliveryLatency", 1500*time.Millisecond)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines", len(lines))
	}
	var first struct {
		AWS struct {
			Timestamp         int64
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		} `json:"_aws"`
		Instance, Outcome, Peer string
		Deliveries              float64
	}
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	m := first.AWS.CloudWatchMetrics[0]
	if first.AWS.Timestamp != 1764201600000 || m.Namespace != "Fedgate" || m.Metrics[0].Name != "Deliveries" || m.Metrics[0].Unit != "Count" ||
		strings.Join(m.Dimensions[0], ",") != "Instance,Outcome,Peer" || first.Instance != "hub" || first.Outcome != "delivered" ||
		first.Peer != "https://spoke.example.org" || first.Deliveries != 1 {
		t.Fatalf("first line %s", lines[0])
	}
	if !strings.Contains(lines[1], `"DeliveryLatency":1500`) || !strings.Contains(lines[1], `"Unit":"Milliseconds"`) {
		t.Fatalf("second line %s", lines[1])
	}
	var none *Recorder
	none.Count("X") // a nil recorder records nothing and does not fail
}
