package controller

import "github.com/prometheus/client_golang/prometheus"

// metrics are the controller's own counters; the live verdicts and the
// SLOs are reported at scrape time by collectors of their packages.
type metrics struct {
	ingested *prometheus.CounterVec
	batches  *prometheus.CounterVec
	skew     *prometheus.CounterVec
	pruned   *prometheus.CounterVec

	reloads    *prometheus.CounterVec
	reloadOK   prometheus.Gauge
	reloadTime prometheus.Gauge
	leader     prometheus.Gauge

	deadman  *prometheus.CounterVec
	sliReads *prometheus.CounterVec
	loops    *prometheus.HistogramVec
	sliceLag prometheus.Histogram
}

func newMetrics() *metrics {
	return &metrics{
		loops: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "nines", Subsystem: "controller", Name: "loop_duration_seconds",
			Help:    "Time one run of a periodic loop took (slice evaluation, alert evaluation, retention, export, ...).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
		}, []string{"loop"}),
		sliceLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "nines", Subsystem: "slices", Name: "lag_seconds",
			Help:    "Time from the arrival of the oldest result a slice evaluation handled to the end of that evaluation.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 12),
		}),
		sliReads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "nines", Subsystem: "sli", Name: "source_failures_total",
			Help: "Reads of an events SLO's counts from its Prometheus server that failed, by SLO.",
		}, []string{"slo"}),
		deadman: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "nines", Subsystem: "deadman", Name: "calls_total",
			Help: "Calls of the dead man's switch (alerting.deadman), by outcome: ok or error.",
		}, []string{"outcome"}),
		ingested: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "nines", Subsystem: "ingest", Name: "results_total",
			Help: "Results received from probes, by outcome: stored, duplicate or rejected.",
		}, []string{"outcome"}),
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "nines", Subsystem: "ingest", Name: "batches_total",
			Help: "Result batches received, by HTTP status code answered.",
		}, []string{"code"}),
		skew: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "nines", Subsystem: "ingest", Name: "clock_skew_total",
			Help: "Heartbeats and results whose clock differs from the controller's by more than 30s.",
		}, []string{"region"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "nines", Subsystem: "config", Name: "reloads_total",
			Help: "Configuration reloads, by outcome: success or failure.",
		}, []string{"outcome"}),
		reloadOK: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "nines", Subsystem: "config", Name: "last_reload_successful",
			Help: "0 when the last reload failed and an older configuration is in force."}),
		reloadTime: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "nines", Subsystem: "config", Name: "last_reload_success_timestamp_seconds",
			Help: "When the configuration in force was loaded."}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "nines", Subsystem: "controller", Name: "leader",
			Help: "1 while this controller leads its replicas: it evaluates rules, slices verdicts and dispatches notifications."}),
		pruned: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "nines", Subsystem: "retention", Name: "deleted_total",
			Help: "Rows deleted by retention, by kind: results, slices or sessions.",
		}, []string{"kind"}),
	}
}

func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	m.ingested.Describe(ch)
	m.batches.Describe(ch)
	m.skew.Describe(ch)
	m.pruned.Describe(ch)
	m.reloads.Describe(ch)
	m.reloadOK.Describe(ch)
	m.reloadTime.Describe(ch)
	m.leader.Describe(ch)
	m.deadman.Describe(ch)
	m.sliReads.Describe(ch)
	m.loops.Describe(ch)
	m.sliceLag.Describe(ch)
}

func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	m.ingested.Collect(ch)
	m.batches.Collect(ch)
	m.skew.Collect(ch)
	m.pruned.Collect(ch)
	m.reloads.Collect(ch)
	m.reloadOK.Collect(ch)
	m.reloadTime.Collect(ch)
	m.leader.Collect(ch)
	m.deadman.Collect(ch)
	m.sliReads.Collect(ch)
	m.loops.Collect(ch)
	m.sliceLag.Collect(ch)
}
