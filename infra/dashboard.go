package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/interfaces/interfacesawscloudwatch"
	"github.com/aws/jsii-runtime-go"

	"github.com/fedgate/fedgate/shared/federation"
	"github.com/fedgate/fedgate/shared/metrics"
	"github.com/fedgate/fedgate/shared/operations"
	"github.com/fedgate/fedgate/shared/queue"
)

// The metrics the functions write as EMF lines (shared/metrics, namespace
// metrics.Namespace): the one table the dashboard and the operator alarms
// read. Names, units, dimensions and the values a dimension takes are the
// contract with the functions, which must write the same strings.

// Dimension names. Every metric has DimInstance, the instance name
// (fedgate:instanceName), so instances in one account keep theirs apart.
const (
	DimInstance = metrics.DimInstance
	DimPeer     = metrics.DimPeer    // a peer's origin: https://spoke.example.org
	DimOutcome  = metrics.DimOutcome // see each metric's Values
	DimState    = metrics.DimState   // of a peer's circuit
	DimType     = metrics.DimType    // an operator event's, or an incoming envelope's (EVENT, QUERY, …)
	DimCode     = metrics.DimCode    // a PROTOCOL error code, or "none"
	DimLimit    = metrics.DimLimit   // which rate limit answered 429
)

// Metric is one metric of the functions: its name, EMF unit, dimensions
// besides DimInstance, and the values of the dimensions that take a fixed set.
type Metric struct {
	Name   string
	Unit   string // metrics.Count or metrics.Milliseconds
	Dims   []string
	Values map[string][]string
}

var (
	MetricDeliveries = Metric{Name: metrics.NameDeliveries, Unit: metrics.Count, Dims: []string{DimPeer, DimOutcome},
		Values: map[string][]string{DimOutcome: {federation.AttemptDelivered, federation.AttemptRejected, federation.AttemptFailed, federation.AttemptHeld}}}
	// MetricDeliveryLatency: from a message's creation to DELIVERED.
	MetricDeliveryLatency = Metric{Name: metrics.NameDeliveryLatency, Unit: metrics.Milliseconds, Dims: []string{DimPeer}}
	// MetricAckLatency: from a peer's 202 to its EVENT_ACK arriving.
	MetricAckLatency = Metric{Name: metrics.NameAckLatency, Unit: metrics.Milliseconds, Dims: []string{DimPeer}}
	// MetricAttemptsPerDelivery: recorded once, when a delivery ends.
	MetricAttemptsPerDelivery = Metric{Name: metrics.NameAttemptsPerDelivery, Unit: metrics.Count, Dims: []string{DimPeer}}
	MetricCircuitChanges      = Metric{Name: metrics.NameCircuitChanges, Unit: metrics.Count, Dims: []string{DimPeer, DimState},
		Values: map[string][]string{DimState: {"open", "closed"}}}
	MetricOperatorEvents = Metric{Name: operations.MetricName, Unit: metrics.Count, Dims: []string{DimType},
		Values: map[string][]string{DimType: {federation.OpDeliveryExhausted, federation.OpConnectionSuspended, federation.OpConnectionResumed,
			federation.OpPeerFailing, federation.OpPeerRecovered, federation.OpKeyRotated}}}
	MetricIncomingEnvelopes = Metric{Name: metrics.NameIncomingEnvelopes, Unit: metrics.Count, Dims: []string{DimType, DimOutcome, DimCode},
		Values: map[string][]string{DimOutcome: {"accepted", "duplicate", "refused"}}}
	MetricRateLimited = Metric{Name: metrics.NameRateLimited, Unit: metrics.Count, Dims: []string{DimLimit},
		Values: map[string][]string{DimLimit: {"peer", "workspace"}}}
)

// Metrics is every metric of the table.
var Metrics = []Metric{MetricDeliveries, MetricDeliveryLatency, MetricAckLatency, MetricAttemptsPerDelivery,
	MetricCircuitChanges, MetricOperatorEvents, MetricIncomingEnvelopes, MetricRateLimited}

// schema is the metric schema of m's SEARCH: the namespace and exactly the
// dimensions its EMF lines declare (Instance first, the others sorted, as
// shared/metrics writes them), so a search finds m and nothing else.
func (m Metric) schema() string {
	dims := slices.Sorted(slices.Values(m.Dims))
	return "{" + strings.Join(append([]string{metrics.Namespace, DimInstance}, dims...), ",") + "}"
}

// panel is one graph of the dashboard: a SEARCH of metric per statistic,
// or, with split, per value of that dimension (only those in only, if set).
// Each line is labelled with its values of the dimensions in by.
type panel struct {
	title  string
	metric Metric
	stats  []string
	split  string
	only   []string
	by     []string
	yLabel string
}

// panels are the dashboard's graphs of fedgate's own metrics, in order.
var panels = []panel{
	{title: "Delivered, per peer", metric: MetricDeliveries, stats: []string{"Sum"},
		split: DimOutcome, only: []string{"delivered"}, by: []string{DimPeer}},
	{title: "Rejected, failed and held deliveries, per peer", metric: MetricDeliveries, stats: []string{"Sum"},
		split: DimOutcome, only: []string{"rejected", "failed", "held"}, by: []string{DimPeer}},
	{title: "Delivery latency (created → DELIVERED) p50, p95 per peer", metric: MetricDeliveryLatency,
		stats: []string{"p50", "p95"}, by: []string{DimPeer}, yLabel: "ms"},
	{title: "ACK latency (202 → its EVENT_ACK) p50, p95 per peer", metric: MetricAckLatency,
		stats: []string{"p50", "p95"}, by: []string{DimPeer}, yLabel: "ms"},
	{title: "Attempts per delivery (average, maximum) per peer", metric: MetricAttemptsPerDelivery,
		stats: []string{"Average", "Maximum"}, by: []string{DimPeer}},
	{title: "Circuit changes per peer", metric: MetricCircuitChanges, stats: []string{"Sum"},
		split: DimState, by: []string{DimPeer}},
	{title: "Incoming envelopes accepted and duplicate, by type", metric: MetricIncomingEnvelopes, stats: []string{"Sum"},
		split: DimOutcome, only: []string{"accepted", "duplicate"}, by: []string{DimType}},
	{title: "Incoming envelopes refused, by code and type", metric: MetricIncomingEnvelopes, stats: []string{"Sum"},
		split: DimOutcome, only: []string{"refused"}, by: []string{DimCode, DimType}},
	{title: "Operator events by type", metric: MetricOperatorEvents, stats: []string{"Sum"}, by: []string{DimType}},
	{title: "Rate-limited calls (429) by limit", metric: MetricRateLimited, stats: []string{"Sum"}, by: []string{DimLimit}},
}

// dashboardPeriod is every graph's period.
const dashboardPeriod = 300

// dashboardName is the instance's dashboard, fedgate-<instance>.
func (b *builder) dashboardName() string { return b.physicalName() }

// dashboardURL is the console address of the dashboard in region.
func (b *builder) dashboardURL(region string) string {
	return "https://" + region + ".console.aws.amazon.com/cloudwatch/home?region=" + region + "#dashboards:name=" + b.dashboardName()
}

// dashboard shows, in one place, what the alarms point to: the alarms'
// states, fedgate's own metrics (panels), every queue's and DLQ's backlog,
// and the functions' errors and throttles. Every graph is a SEARCH or a
// queue's metric, so a new peer, envelope type or error code appears
// without a change here. One resource (doc.go: resource budget).
func (b *builder) dashboard() {
	d := awscloudwatch.NewDashboard(b.stack, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{
		DashboardName:   jsii.String(b.dashboardName()),
		DefaultInterval: awscdk.Duration_Hours(jsii.Number(24)),
	})
	d.AddWidgets(awscloudwatch.NewTextWidget(&awscloudwatch.TextWidgetProps{Width: jsii.Number(24), Height: jsii.Number(3), Markdown: jsii.String(
		"# fedgate " + b.props.InstanceName + "\n" +
			"What the functions count (namespace `" + metrics.Namespace + "`, dimension `" + DimInstance + "=" + b.props.InstanceName + "`), " +
			"the queues' backlog and the functions' errors. Every alarm's description points here; what to do: README, Alarms. " +
			"Logs: the log groups `" + b.logGroupName("<capability>") + "`. Traces: X-Ray (every function is traced).")}))
	alarms := make([]interfacesawscloudwatch.IAlarmRef, len(b.alarms))
	for i, a := range b.alarms {
		alarms[i] = a
	}
	d.AddWidgets(awscloudwatch.NewAlarmStatusWidget(&awscloudwatch.AlarmStatusWidgetProps{
		Title: jsii.String("Alarms"), Alarms: &alarms, Width: jsii.Number(24), Height: jsii.Number(4),
	}))
	var graphs []awscloudwatch.IWidget
	for _, p := range panels {
		graphs = append(graphs, graph(p.title, p.yLabel, b.searches(p)))
	}
	graphs = append(graphs, b.queueGraphs()...)
	graphs = append(graphs, b.functionGraphs()...)
	for i := 0; i < len(graphs); i += 2 {
		d.AddWidgets(graphs[i:min(i+2, len(graphs))]...)
	}
}

// graph is a half-width line graph of metrics.
func graph(title, yLabel string, metrics []awscloudwatch.IMetric) awscloudwatch.GraphWidget {
	axis := &awscloudwatch.YAxisProps{Min: jsii.Number(0), ShowUnits: jsii.Bool(false)}
	if yLabel != "" {
		axis.Label = jsii.String(yLabel)
	}
	return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
		Title: jsii.String(title), Left: &metrics, Width: jsii.Number(12), Height: jsii.Number(6), LeftYAxis: axis,
	})
}

// searches are p's SEARCH expressions: one per statistic, or per value of
// p.split.
func (b *builder) searches(p panel) []awscloudwatch.IMetric {
	var labels []string
	for _, dim := range p.by {
		labels = append(labels, "${PROP('Dim."+dim+"')}")
	}
	label := strings.Join(labels, " ")
	var out []awscloudwatch.IMetric
	add := func(prefix, stat string, filter ...string) {
		out = append(out, awscloudwatch.NewSearchExpression(&awscloudwatch.SearchExpressionProps{
			Expression: jsii.String(b.search(p.metric, stat, filter...)),
			Label:      jsii.String(strings.TrimSpace(prefix + " " + label)),
			Period:     awscdk.Duration_Seconds(jsii.Number(dashboardPeriod)),
		}))
	}
	switch {
	case p.split != "":
		values := p.only
		if values == nil {
			values = p.metric.Values[p.split]
		}
		for _, v := range values {
			add(v, p.stats[0], p.split, v)
		}
	case len(p.stats) > 1:
		for _, stat := range p.stats {
			add(stat, stat)
		}
	default:
		add("", p.stats[0])
	}
	return out
}

// search is the SEARCH of this instance's m with stat, narrowed by filter
// (dimension, value pairs) to exact values.
func (b *builder) search(m Metric, stat string, filter ...string) string {
	terms := []string{`MetricName="` + m.Name + `"`, DimInstance + `="` + searchEscape(b.props.InstanceName) + `"`}
	for i := 0; i+1 < len(filter); i += 2 {
		terms = append(terms, filter[i]+`="`+searchEscape(filter[i+1])+`"`)
	}
	return fmt.Sprintf("SEARCH('%s %s', '%s', %d)", m.schema(), strings.Join(terms, " "), stat, dashboardPeriod)
}

// searchEscape escapes what an exact match in a SEARCH must escape.
func searchEscape(v string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, `(`, `\(`, `)`, `\)`).Replace(v)
}

// queueGraphs are the backlog of every queue and DLQ of shared/queue: the
// age of its oldest message and its visible messages.
func (b *builder) queueGraphs() []awscloudwatch.IWidget {
	var names []string
	for _, q := range queue.Queues {
		names = append(names, q.Name, q.DLQName())
	}
	var age, visible []awscloudwatch.IMetric
	for _, name := range names {
		q := b.queueNamed(name)
		opts := &awscloudwatch.MetricOptions{Label: jsii.String(name), Statistic: jsii.String("Maximum"),
			Period: awscdk.Duration_Seconds(jsii.Number(dashboardPeriod))}
		age = append(age, q.MetricApproximateAgeOfOldestMessage(opts))
		visible = append(visible, q.MetricApproximateNumberOfMessagesVisible(opts))
	}
	return []awscloudwatch.IWidget{
		graph("Queues and DLQs: age of the oldest message", "seconds", age),
		graph("Queues and DLQs: messages waiting", "messages", visible),
	}
}

// functionGraphs are the functions' errors and throttles: per capability,
// a SEARCH of its functions by name (at most maxAlarmMetrics names in one,
// which keeps each search within CloudWatch's 1024 characters).
func (b *builder) functionGraphs() []awscloudwatch.IWidget {
	caps := slices.Sorted(maps.Keys(b.errorMetrics))
	var out []awscloudwatch.IWidget
	for _, metric := range []string{"Errors", "Throttles"} {
		var searches []awscloudwatch.IMetric
		for _, c := range caps {
			fns := b.errorMetrics[c]
			for first := 0; first < len(fns); first += maxAlarmMetrics {
				var names []string
				for _, f := range fns[first:min(first+maxAlarmMetrics, len(fns))] {
					names = append(names, b.physicalName(f.name))
				}
				searches = append(searches, awscloudwatch.NewSearchExpression(&awscloudwatch.SearchExpressionProps{
					Expression: jsii.String(functionSearch(metric, names)),
					Label:      jsii.String("${PROP('Dim.FunctionName')}"),
					Period:     awscdk.Duration_Seconds(jsii.Number(dashboardPeriod)),
				}))
			}
		}
		out = append(out, graph("Function "+strings.ToLower(metric)+" (Lambda)", "", searches))
	}
	return out
}

// functionSearch is the SEARCH of metric (AWS/Lambda, Sum) of the functions
// named names, exactly.
func functionSearch(metric string, names []string) string {
	terms := make([]string, len(names))
	for i, n := range names {
		terms[i] = `FunctionName="` + searchEscape(n) + `"`
	}
	return fmt.Sprintf(`SEARCH('{AWS/Lambda,FunctionName} MetricName="%s" (%s)', 'Sum', %d)`, metric, strings.Join(terms, " OR "), dashboardPeriod)
}
