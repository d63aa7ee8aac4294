package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/metrics"
	"github.com/fedgate/fedgate/shared/queue"
	"github.com/fedgate/fedgate/shared/routes"
)

// Tests of what operators watch (issue #15): the dashboard, the alarms'
// pointer to it, and X-Ray tracing.

// The metric table is the contract of issue #15, and what shared/metrics
// writes for each metric is what the dashboard's SEARCH looks for: the same
// namespace and exactly the same dimensions.
func TestMetricTable(t *testing.T) {
	contract := []struct {
		name, unit string
		dims       []string // besides Instance
	}{
		{"Deliveries", "Count", []string{"Peer", "Outcome"}},
		{"DeliveryLatency", "Milliseconds", []string{"Peer"}},
		{"AckLatency", "Milliseconds", []string{"Peer"}},
		{"AttemptsPerDelivery", "Count", []string{"Peer"}},
		{"CircuitChanges", "Count", []string{"Peer", "State"}},
		{"OperatorEvents", "Count", []string{"Type"}},
		{"IncomingEnvelopes", "Count", []string{"Type", "Outcome", "Code"}},
		{"RateLimited", "Count", []string{"Limit"}},
	}
	if len(Metrics) != len(contract) {
		t.Fatalf("%d metrics in the table, %d in the contract", len(Metrics), len(contract))
	}
	for i, c := range contract {
		m := Metrics[i]
		if m.Name != c.name || m.Unit != c.unit || !slices.Equal(m.Dims, c.dims) {
			t.Errorf("table has %s %s %v, the contract %s %s %v", m.Name, m.Unit, m.Dims, c.name, c.unit, c.dims)
		}
		for dim := range m.Values {
			if !slices.Contains(m.Dims, dim) {
				t.Errorf("%s: values of %s, which is not its dimension", m.Name, dim)
			}
		}
		// One line as the functions write it, with a value for every dimension.
		var buf bytes.Buffer
		var pairs []string
		for _, d := range m.Dims {
			pairs = append(pairs, d, "x")
		}
		metrics.New(slog.New(slog.NewJSONHandler(&buf, nil)), "hub").Add(m.Name, 1, m.Unit, pairs...)
		var line struct {
			AWS struct {
				CloudWatchMetrics []struct {
					Namespace  string
					Dimensions [][]string
					Metrics    []struct{ Name, Unit string }
				}
			} `json:"_aws"`
		}
		if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
			t.Fatal(err)
		}
		cw := line.AWS.CloudWatchMetrics[0]
		if got := "{" + cw.Namespace + "," + strings.Join(cw.Dimensions[0], ",") + "}"; got != m.schema() {
			t.Errorf("%s: the functions write %s, the dashboard searches %s", m.Name, got, m.schema())
		}
		if cw.Metrics[0].Name != m.Name || cw.Metrics[0].Unit != m.Unit {
			t.Errorf("%s: written as %+v", m.Name, cw.Metrics[0])
		}
	}
	ops := MetricOperatorEvents.Values[DimType]
	for _, op := range []string{federation.OpDeliveryExhausted, federation.OpConnectionSuspended, federation.OpConnectionResumed,
		federation.OpPeerFailing, federation.OpPeerRecovered, federation.OpKeyRotated} {
		if !slices.Contains(ops, op) {
			t.Errorf("operator event %s missing from the table", op)
		}
	}
}

// Every function is traced by X-Ray (active), and its own role allows
// sending the traces, inline: no policy resource of its own.
func TestTracing(t *testing.T) {
	for name, id := range functionIDs(t) {
		fn := props(resources[id])
		if got := jsonText(fn["TracingConfig"]); got != `{"Mode":"Active"}` {
			t.Errorf("%s: tracing %s, want Active", name, got)
		}
		roleID := refOf(fn["Role"])
		want := jsonText(slices.Sorted(slices.Values(xrayActions)))
		var onAll []string // the actions of each inline statement on *
		for _, p := range asList(props(resources[roleID])["Policies"]) {
			for _, raw := range asList(p.(map[string]any)["PolicyDocument"].(map[string]any)["Statement"]) {
				st := raw.(map[string]any)
				if st["Resource"] == "*" && st["Effect"] == "Allow" {
					var actions []string
					for _, a := range asList(st["Action"]) {
						actions = append(actions, a.(string))
					}
					slices.Sort(actions)
					onAll = append(onAll, jsonText(actions))
				}
			}
		}
		if !slices.Equal(onAll, []string{want}) {
			t.Errorf("%s: role %s's inline statements on * allow %v, want only %s", name, roleID, onAll, want)
		}
	}
	if n := len(ofType("AWS::IAM::Policy")); n != 0 {
		t.Errorf("%d AWS::IAM::Policy resources: tracing added policies beside the roles", n)
	}
}

// dashboardStack is one synthesized stack the dashboard tests read.
type dashboardStack struct {
	name, instance string
	tmpl           map[string]any
	res            map[string]map[string]any
}

var (
	longestOnce  sync.Once
	longestStack dashboardStack
)

// dashboardStacks are cdk.json's stack and one of the longest instance name
// the settings allow (synthesized once), where lengths are tightest.
func dashboardStacks(t *testing.T) []dashboardStack {
	t.Helper()
	longestOnce.Do(func() {
		name := strings.Repeat("a", 20)
		_, tmpl, res := synthTemplate(t, map[string]any{"fedgate:instanceName": name})
		longestStack = dashboardStack{"longest instance name", name, tmpl, res}
	})
	if longestStack.res == nil {
		t.Fatal("the stack of the longest instance name did not synthesize")
	}
	return []dashboardStack{{"cdk.json", "fedgate", template, resources}, longestStack}
}

// resolve renders a template value as text: joins joined, the region as
// region, other references as {{id}} or {{id.Attribute}}.
func resolve(v any, region string) string {
	switch x := v.(type) {
	case string:
		return x
	case map[string]any:
		if j, ok := x["Fn::Join"].([]any); ok {
			var parts []string
			for _, p := range asList(j[1]) {
				parts = append(parts, resolve(p, region))
			}
			return strings.Join(parts, j[0].(string))
		}
		if ref, ok := x["Ref"].(string); ok {
			if ref == "AWS::Region" {
				return region
			}
			return "{{" + ref + "}}"
		}
		if ga, ok := x["Fn::GetAtt"].([]any); ok {
			return "{{" + ga[0].(string) + "." + ga[1].(string) + "}}"
		}
	}
	return jsonText(v)
}

// widget is one widget of a dashboard's body.
type widget struct {
	Type       string
	Properties struct {
		Title, Region, Markdown string
		Alarms                  []string
		Metrics                 [][]any
	}
}

// searches are the SEARCH expressions of a metric widget, with their labels.
func (w widget) searches() map[string]string {
	out := map[string]string{}
	for _, m := range w.Properties.Metrics {
		if len(m) == 1 {
			if e, ok := m[0].(map[string]any); ok && e["expression"] != nil {
				out[e["expression"].(string)], _ = e["label"].(string)
			}
		}
	}
	return out
}

const testRegion = "eu-west-1"

// dashboardOf is the one dashboard of res: its name and widgets.
func dashboardOf(t *testing.T, res map[string]map[string]any) (string, []widget, int) {
	t.Helper()
	dashboards := ofTypeIn(res, "AWS::CloudWatch::Dashboard")
	if len(dashboards) != 1 {
		t.Fatalf("%d dashboards, want 1", len(dashboards))
	}
	for _, d := range dashboards {
		body := resolve(props(d)["DashboardBody"], testRegion)
		var parsed struct{ Widgets []widget }
		if err := json.Unmarshal([]byte(body), &parsed); err != nil {
			t.Fatalf("dashboard body: %v\n%s", err, body)
		}
		name, _ := props(d)["DashboardName"].(string)
		return name, parsed.Widgets, len(body)
	}
	return "", nil, 0
}

// The dashboard has a graph of every metric of the table (by SEARCH, per
// peer where the metric has one), every queue's and DLQ's backlog, every
// function's errors and throttles, every alarm, and stays within
// CloudWatch's limits.
func TestDashboard(t *testing.T) {
	for _, s := range dashboardStacks(t) {
		t.Run(s.name, func(t *testing.T) {
			name, widgets, size := dashboardOf(t, s.res)
			if want := "fedgate-" + s.instance; name != want {
				t.Errorf("dashboard named %q, want %q", name, want)
			}
			// CloudWatch: at most 100 widgets in older documents (500 now), 100
			// search expressions and 500 time series in a graph, 1024 characters
			// in a search. The body's size has no documented limit; 64 KB is ours.
			if len(widgets) > 100 || size > 64*1024 {
				t.Errorf("%d widgets, a body of %d bytes", len(widgets), size)
			}
			searches := map[string]string{} // expression → label
			var metricRows []string
			for _, w := range widgets {
				if w.Type != "metric" {
					continue
				}
				if w.Properties.Region != testRegion {
					t.Errorf("widget %q in region %q, want the stack's", w.Properties.Title, w.Properties.Region)
				}
				ws := w.searches()
				if len(ws) > 100 || len(w.Properties.Metrics) > 500 {
					t.Errorf("widget %q: %d searches, %d metrics", w.Properties.Title, len(ws), len(w.Properties.Metrics))
				}
				for e, l := range ws {
					searches[e] = l
					if len(e) > 1024 {
						t.Errorf("a search of %d characters: %s", len(e), e)
					}
				}
				for _, m := range w.Properties.Metrics {
					metricRows = append(metricRows, jsonText(m))
				}
			}
			// fedgate's metrics: this instance's, by exact dimension set, split
			// and labelled as the operator reads them.
			instance := `Instance="` + s.instance + `"`
			for _, tc := range []struct {
				metric Metric
				filter string // a term the search has, "" for none
				stat   string
				label  string // in the series' label
			}{
				{MetricDeliveries, `Outcome="delivered"`, "Sum", "${PROP('Dim.Peer')}"},
				{MetricDeliveries, `Outcome="rejected"`, "Sum", "${PROP('Dim.Peer')}"},
				{MetricDeliveries, `Outcome="failed"`, "Sum", "${PROP('Dim.Peer')}"},
				{MetricDeliveries, `Outcome="held"`, "Sum", "${PROP('Dim.Peer')}"},
				{MetricDeliveryLatency, "", "p50", "${PROP('Dim.Peer')}"},
				{MetricDeliveryLatency, "", "p95", "${PROP('Dim.Peer')}"},
				{MetricAckLatency, "", "p50", "${PROP('Dim.Peer')}"},
				{MetricAckLatency, "", "p95", "${PROP('Dim.Peer')}"},
				{MetricAttemptsPerDelivery, "", "Average", "${PROP('Dim.Peer')}"},
				{MetricAttemptsPerDelivery, "", "Maximum", "${PROP('Dim.Peer')}"},
				{MetricCircuitChanges, `State="open"`, "Sum", "${PROP('Dim.Peer')}"},
				{MetricCircuitChanges, `State="closed"`, "Sum", "${PROP('Dim.Peer')}"},
				{MetricOperatorEvents, "", "Sum", "${PROP('Dim.Type')}"},
				{MetricIncomingEnvelopes, `Outcome="accepted"`, "Sum", "${PROP('Dim.Type')}"},
				{MetricIncomingEnvelopes, `Outcome="duplicate"`, "Sum", "${PROP('Dim.Type')}"},
				{MetricIncomingEnvelopes, `Outcome="refused"`, "Sum", "${PROP('Dim.Code')}"},
				{MetricRateLimited, "", "Sum", "${PROP('Dim.Limit')}"},
			} {
				found := false
				for e, label := range searches {
					if strings.HasPrefix(e, "SEARCH('"+tc.metric.schema()+" ") && strings.Contains(e, `MetricName="`+tc.metric.Name+`"`) &&
						strings.Contains(e, instance) && strings.Contains(e, tc.filter) && strings.HasSuffix(e, "', '"+tc.stat+"', 300)") &&
						strings.Contains(label, tc.label) {
						found = true
					}
				}
				if !found {
					t.Errorf("no SEARCH of %s %s %s (%s) labelled %s", tc.metric.Name, tc.filter, tc.stat, instance, tc.label)
				}
			}
			for e := range searches {
				if strings.Contains(e, "{"+metrics.Namespace+",") && !strings.Contains(e, instance) {
					t.Errorf("a search of fedgate's metrics not narrowed to this instance: %s", e)
				}
			}
			// Every queue and DLQ: the age of its oldest message and its visible messages.
			for _, q := range queue.Queues {
				for _, name := range []string{q.Name, q.DLQName()} {
					id := logicalIDOf2(t, s.res, "AWS::SQS::Queue", queueConstruct(name))
					for _, metric := range []string{"ApproximateAgeOfOldestMessage", "ApproximateNumberOfMessagesVisible"} {
						want := `["AWS/SQS","` + metric + `","QueueName","{{` + id + `.QueueName}}"`
						if !slices.ContainsFunc(metricRows, func(r string) bool { return strings.HasPrefix(r, want) }) {
							t.Errorf("no %s of queue %s", metric, name)
						}
					}
				}
			}
			// Every function's errors and throttles, each in exactly one search.
			for _, metric := range []string{"Errors", "Throttles"} {
				for _, r := range routes.All {
					fn := `FunctionName="fedgate-` + s.instance + "-" + r.Name + `"`
					n := 0
					for e := range searches {
						if strings.Contains(e, `{AWS/Lambda,FunctionName} MetricName="`+metric+`"`) && strings.Contains(e, fn) {
							n++
						}
					}
					if n != 1 {
						t.Errorf("function %s's %s in %d searches, want 1", r.Name, metric, n)
					}
				}
			}
			// Every alarm's state.
			var listed []string
			for _, w := range widgets {
				if w.Type == "alarm" {
					listed = append(listed, w.Properties.Alarms...)
				}
			}
			for id := range ofTypeIn(s.res, "AWS::CloudWatch::Alarm") {
				if !slices.Contains(listed, "{{"+id+".Arn}}") {
					t.Errorf("alarm %s not on the dashboard", id)
				}
			}
		})
	}
}

// queueConstruct is the construct id of queue (or DLQ) name (resources.go).
func queueConstruct(name string) string {
	if strings.HasSuffix(name, "-dlq") {
		return pascal(name)
	}
	return pascal(name) + "Queue"
}

// Every alarm's description ends with the dashboard's name and address,
// within CloudWatch's 1024 characters even with a long region name; the
// DashboardUrl output is the same address.
func TestAlarmsPointAtDashboard(t *testing.T) {
	for _, s := range dashboardStacks(t) {
		t.Run(s.name, func(t *testing.T) {
			name := "fedgate-" + s.instance
			url := "https://" + testRegion + ".console.aws.amazon.com/cloudwatch/home?region=" + testRegion + "#dashboards:name=" + name
			alarms := ofTypeIn(s.res, "AWS::CloudWatch::Alarm")
			if len(alarms) == 0 {
				t.Fatal("no alarms")
			}
			for id, a := range alarms {
				desc := props(a)["AlarmDescription"]
				if got := resolve(desc, testRegion); !strings.HasSuffix(got, " Dashboard "+name+": "+url) {
					t.Errorf("alarm %s does not end with the dashboard: %q", id, got)
				}
				if got := resolve(desc, strings.Repeat("x", regionRoom)); len(got) > 1024 {
					t.Errorf("alarm %s: %d characters with a long region name, CloudWatch allows 1024", id, len(got))
				}
			}
			if got := resolve(outputValue(s.tmpl, "DashboardUrl"), testRegion); got != url {
				t.Errorf("DashboardUrl output %q, want %q", got, url)
			}
		})
	}
}

// An alarm whose description would not fit stops synthesis with its name.
func TestAlarmDescriptionTooLong(t *testing.T) {
	b := &builder{props: Props{InstanceName: "hub"}}
	defer func() {
		if msg, _ := recover().(string); !regexp.MustCompile(`alarm Long: a description of \d+ characters, CloudWatch allows 1024`).MatchString(msg) {
			t.Errorf("panic %q", msg)
		}
	}()
	b.alarm("Long", nil, 0, strings.Repeat("x", 1000))
}
