package live

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/model"
)

// Collector reports the live state at scrape time: every check's verdict
// and each region's view of it, region health, probes' spools and the
// configuration version.
type Collector struct {
	View   View
	Config func() *config.Config
	Now    func() time.Time
}

var (
	checkUp = prometheus.NewDesc("nines_check_up", "1 when the region's newest fresh result of the check is up, 0 when down; absent when unknown.",
		[]string{"check", "region"}, nil)
	checkStatus = prometheus.NewDesc("nines_check_status", "Quorum-confirmed verdict of a check: 1 for the current status.",
		[]string{"check", "status"}, nil)
	regionHealth = prometheus.NewDesc("nines_region_healthy", "1 when at least one probe of the region heartbeats in time.",
		[]string{"region"}, nil)
	spoolDepth = prometheus.NewDesc("nines_probe_spool_depth", "Results waiting in a probe's spool, as reported by its heartbeat.",
		[]string{"region", "probe"}, nil)
	configInfo = prometheus.NewDesc("nines_config_info", "The configuration version in force.", []string{"version"}, nil)
	staleEdge  = prometheus.NewDesc("nines_check_stale_edge", "1 when the region's CDN edge serves other content than most regions.",
		[]string{"check", "region"}, nil)
)

var verdictStatuses = []model.Status{model.StatusUp, model.StatusDown, model.StatusDegraded, model.StatusUnknown, model.StatusMaintenance}

// Describe sends the descriptions of the live metrics.
func (c Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{checkUp, checkStatus, regionHealth, spoolDepth, configInfo, staleEdge} {
		ch <- d
	}
}

// Collect judges every check now and sends the live metrics.
func (c Collector) Collect(ch chan<- prometheus.Metric) {
	cfg := c.Config()
	now := c.Now()
	healthy := c.View.Probes.HealthyRegions(now, cfg.UnhealthyAfter())
	healthyAt := c.View.Probes.HealthyAtFor(cfg)
	ch <- prometheus.MustNewConstMetric(configInfo, prometheus.GaugeValue, 1, cfg.Version)
	for _, r := range cfg.Regions {
		ch <- prometheus.MustNewConstMetric(regionHealth, prometheus.GaugeValue, b2f(healthy[r.ID]), r.ID)
	}
	for _, p := range c.View.Probes.Snapshot() {
		ch <- prometheus.MustNewConstMetric(spoolDepth, prometheus.GaugeValue, float64(p.SpoolDepth), p.Region, p.ID)
	}
	for _, chk := range cfg.AllChecks() {
		v := Judge(cfg, chk, c.View.Latest, healthy, now, healthyAt)
		for _, s := range verdictStatuses {
			ch <- prometheus.MustNewConstMetric(checkStatus, prometheus.GaugeValue, b2f(v.Status == s), chk.ID, string(s))
		}
		for _, region := range v.StaleRegions {
			ch <- prometheus.MustNewConstMetric(staleEdge, prometheus.GaugeValue, 1, chk.ID, region)
		}
		for region, rv := range v.Regions {
			if rv.Status == model.StatusUp || rv.Status == model.StatusDown {
				ch <- prometheus.MustNewConstMetric(checkUp, prometheus.GaugeValue, b2f(rv.Status == model.StatusUp), chk.ID, region)
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
