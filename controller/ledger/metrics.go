package ledger

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	sloBudget = prometheus.NewDesc("nines_slo_error_budget_remaining_ratio", "Share of the SLO's error budget left in its window.",
		[]string{"slo"}, nil)
	sloBurn = prometheus.NewDesc("nines_slo_burn_rate", "Error budget burn rate over a window: (bad / valid minutes) / (1 - target).",
		[]string{"slo", "window"}, nil)
	sloSLI = prometheus.NewDesc("nines_slo_sli_ratio", "The SLO's SLI over its window: good / valid minutes.", []string{"slo"}, nil)
)

// Collector reports every SLO's budget, SLI and burn rates at scrape
// time; an SLO that cannot be reported is logged and left out.
func (l *Ledger) Collector(log *slog.Logger) prometheus.Collector { return sloCollector{l, log} }

type sloCollector struct {
	l   *Ledger
	log *slog.Logger
}

func (c sloCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- sloBudget
	ch <- sloBurn
	ch <- sloSLI
}

func (c sloCollector) Collect(ch chan<- prometheus.Metric) {
	cfg := c.l.o.Config()
	now := c.l.o.Now()
	for i := range cfg.SLOs {
		r, err := c.l.SLOReport(context.Background(), &cfg.SLOs[i], now)
		if err != nil {
			c.log.Error("slo metrics", "slo", cfg.SLOs[i].ID, "err", err)
			continue
		}
		ch <- prometheus.MustNewConstMetric(sloBudget, prometheus.GaugeValue, r.ErrorBudget.RemainingRatio, r.ID)
		if r.Value != nil {
			ch <- prometheus.MustNewConstMetric(sloSLI, prometheus.GaugeValue, *r.Value, r.ID)
		}
		for w, v := range r.BurnRates {
			ch <- prometheus.MustNewConstMetric(sloBurn, prometheus.GaugeValue, v, r.ID, w)
		}
	}
}
