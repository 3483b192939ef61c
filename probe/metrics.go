package probe

import (
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	results     *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	lateness    prometheus.Histogram
	skipped     *prometheus.CounterVec
	shipped     *prometheus.CounterVec
	batches     *prometheus.CounterVec
	dropped     prometheus.Counter
	controller  prometheus.Gauge
	assignments prometheus.Gauge
	isolated    prometheus.Counter
	onDemand    prometheus.Counter
	// watchdogPaging is 1 while this probe's watchdog page is open.
	watchdogPaging prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, depth, silent func() float64) *metrics {
	const ns, sub = "nines", "probe"
	m := &metrics{
		results: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "results_total",
			Help: "Check runs, by kind and outcome (per-check state is the controller's nines_check_up)."}, []string{"kind", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "check_duration_seconds",
			Help: "Duration of check runs, by kind.", Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12)}, []string{"kind"}),
		lateness: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "schedule_lateness_seconds",
			Help: "How late a check run started after its scheduled time.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "checks_skipped_total",
			Help: "Scheduled runs skipped because the previous run of the check was still going."}, []string{"check"}),
		shipped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "shipped_results_total",
			Help: "Results acknowledged by the controller, by outcome: stored, duplicate or rejected."}, []string{"outcome"}),
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "ship_batches_total",
			Help: "Result batches sent to the controller, by outcome: ok or error."}, []string{"outcome"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "spool_dropped_total",
			Help: "Results dropped, oldest first, because the spool was full."}),
		controller: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "controller_reachable",
			Help: "1 when the last call to the controller succeeded."}),
		assignments: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "assigned_checks",
			Help: "Checks in the current assignment."}),
		isolated: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "isolated_failures_total",
			Help: "Failures seen while this probe reached no controller and no other target, marked as its own network's (probe_isolated)."}),
		onDemand: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "on_demand_runs_total",
			Help: "Runs a confirmation round asked for, outside the schedule."}),
		watchdogPaging: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "watchdog_paging",
			Help: "1 while this probe's watchdog has paged that no controller is reached, until it resolves."}),
	}
	reg.MustRegister(m.results, m.duration, m.lateness, m.skipped, m.shipped, m.batches, m.dropped, m.controller, m.assignments, m.isolated,
		m.watchdogPaging, m.onDemand,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "spool_depth",
			Help: "Results waiting in the spool."}, depth),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "controller_silent_seconds",
			Help: "Seconds since a controller last answered a heartbeat (or since the probe started, when none has)."}, silent))
	return m
}
