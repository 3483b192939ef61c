package controller

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nines-sre/nines/controller/live"
	"github.com/nines-sre/nines/model"
)

// metrics are the controller's counters plus a collector that reports the
// live verdicts at scrape time.
type metrics struct {
	c *Controller

	ingested *prometheus.CounterVec
	batches  *prometheus.CounterVec
	skew     *prometheus.CounterVec
	pruned   *prometheus.CounterVec

	reloads    *prometheus.CounterVec
	reloadOK   prometheus.Gauge
	reloadTime prometheus.Gauge
	leader     prometheus.Gauge

	loops    *prometheus.HistogramVec
	sliceLag prometheus.Histogram

	checkUp      *prometheus.Desc
	checkStatus  *prometheus.Desc
	regionHealth *prometheus.Desc
	spoolDepth   *prometheus.Desc
	configInfo   *prometheus.Desc
	staleEdge    *prometheus.Desc
	sloBudget    *prometheus.Desc
	sloBurn      *prometheus.Desc
	sloSLI       *prometheus.Desc
}

var verdictStatuses = []model.Status{model.StatusUp, model.StatusDown, model.StatusDegraded, model.StatusUnknown, model.StatusMaintenance}

func newMetrics(c *Controller) *metrics {
	return &metrics{
		c: c,
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
		checkUp: prometheus.NewDesc("nines_check_up", "1 when the region's newest fresh result of the check is up, 0 when down; absent when unknown.",
			[]string{"check", "region"}, nil),
		checkStatus: prometheus.NewDesc("nines_check_status", "Quorum-confirmed verdict of a check: 1 for the current status.",
			[]string{"check", "status"}, nil),
		regionHealth: prometheus.NewDesc("nines_region_healthy", "1 when at least one probe of the region heartbeats in time.",
			[]string{"region"}, nil),
		spoolDepth: prometheus.NewDesc("nines_probe_spool_depth", "Results waiting in a probe's spool, as reported by its heartbeat.",
			[]string{"region", "probe"}, nil),
		configInfo: prometheus.NewDesc("nines_config_info", "The configuration version in force.", []string{"version"}, nil),
		sloBudget: prometheus.NewDesc("nines_slo_error_budget_remaining_ratio", "Share of the SLO's error budget left in its window.",
			[]string{"slo"}, nil),
		sloBurn: prometheus.NewDesc("nines_slo_burn_rate", "Error budget burn rate over a window: (bad / valid minutes) / (1 - target).",
			[]string{"slo", "window"}, nil),
		sloSLI: prometheus.NewDesc("nines_slo_sli_ratio", "The SLO's SLI over its window: good / valid minutes.", []string{"slo"}, nil),
		staleEdge: prometheus.NewDesc("nines_check_stale_edge", "1 when the region's CDN edge serves other content than most regions.",
			[]string{"check", "region"}, nil),
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
	m.loops.Describe(ch)
	m.sliceLag.Describe(ch)
	for _, d := range []*prometheus.Desc{m.checkUp, m.checkStatus, m.regionHealth, m.spoolDepth, m.configInfo, m.staleEdge, m.sloBudget, m.sloBurn, m.sloSLI} {
		ch <- d
	}
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
	m.loops.Collect(ch)
	m.sliceLag.Collect(ch)
	c := m.c
	cfg := c.Config()
	now := c.now()
	healthy := c.probes.HealthyRegions(now, cfg.UnhealthyAfter())
	ch <- prometheus.MustNewConstMetric(m.configInfo, prometheus.GaugeValue, 1, cfg.Version)
	for _, r := range cfg.Regions {
		ch <- prometheus.MustNewConstMetric(m.regionHealth, prometheus.GaugeValue, b2f(healthy[r.ID]), r.ID)
	}
	for _, p := range c.probes.Snapshot() {
		ch <- prometheus.MustNewConstMetric(m.spoolDepth, prometheus.GaugeValue, float64(p.SpoolDepth), p.Region, p.ID)
	}
	for i := range cfg.SLOs {
		r, err := c.ledger.SLOReport(context.Background(), &cfg.SLOs[i], now)
		if err != nil {
			c.log.Error("slo metrics", "slo", cfg.SLOs[i].ID, "err", err)
			continue
		}
		ch <- prometheus.MustNewConstMetric(m.sloBudget, prometheus.GaugeValue, r.ErrorBudget.RemainingRatio, r.ID)
		if r.Value != nil {
			ch <- prometheus.MustNewConstMetric(m.sloSLI, prometheus.GaugeValue, *r.Value, r.ID)
		}
		for w, v := range r.BurnRates {
			ch <- prometheus.MustNewConstMetric(m.sloBurn, prometheus.GaugeValue, v, r.ID, w)
		}
	}
	for _, chk := range cfg.AllChecks() {
		v := live.Judge(cfg, chk, c.latest, healthy, now, c.probes.HealthyAtFor(cfg))
		for _, s := range verdictStatuses {
			ch <- prometheus.MustNewConstMetric(m.checkStatus, prometheus.GaugeValue, b2f(v.Status == s), chk.ID, string(s))
		}
		for _, region := range v.StaleRegions {
			ch <- prometheus.MustNewConstMetric(m.staleEdge, prometheus.GaugeValue, 1, chk.ID, region)
		}
		for region, rv := range v.Regions {
			if rv.Status == model.StatusUp || rv.Status == model.StatusDown {
				ch <- prometheus.MustNewConstMetric(m.checkUp, prometheus.GaugeValue, b2f(rv.Status == model.StatusUp), chk.ID, region)
			}
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
