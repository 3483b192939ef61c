package contentsvc

import (
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/nines-sre/nines/contentsvc/events"
)

// metrics are contentsvc's own series on /metrics: requests by route and
// status code, their latency, and the faults injected, beside the Go
// runtime's and the process's.
type metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	sdkErrors prometheus.Counter

	received   *prometheus.CounterVec
	refused    prometheus.Counter
	processed  *prometheus.CounterVec
	duplicates prometheus.Counter
	renders    *prometheus.CounterVec
	groups     prometheus.Counter
}

// newMetrics registers contentsvc's series in reg; a nil reg is a
// registry of its own, with the Go runtime's and the process's series.
func newMetrics(reg *prometheus.Registry, f *faults) *metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	m := &metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "contentsvc_http_requests_total",
			Help: "HTTP requests answered, by route and status code."}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "contentsvc_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, injected latency included, by route.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}, []string{"route"}),
		sdkErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "contentsvc_sdk_errors_total",
			Help: "Errors the browser SDK reported: contained by a boundary, or that stopped it."}),
	}
	m.received = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "contentsvc_events_received_total",
		Help: "Events the intake took and queued, by type (render, impression, error)."}, []string{"type"})
	m.refused = prometheus.NewCounter(prometheus.CounterOpts{Name: "contentsvc_events_refused_total",
		Help: "Events the intake refused as invalid."})
	m.processed = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "contentsvc_events_processed_total",
		Help: "Events the consumer processed for the first time, by type."}, []string{"type"})
	m.duplicates = prometheus.NewCounter(prometheus.CounterOpts{Name: "contentsvc_events_duplicates_total",
		Help: "Events the consumer had processed already (a client's retry, a redelivery) and dropped."})
	m.renders = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "contentsvc_renders_total",
		Help: "Renders real users' SDKs reported, by the level of the fallback chain that served (fresh, cached, default, empty)."}, []string{"level"})
	m.groups = prometheus.NewCounter(prometheus.CounterOpts{Name: "contentsvc_error_groups_total",
		Help: "Error fingerprints seen for the first time."})
	for _, l := range events.Levels { // every level's series exists from the start
		m.renders.WithLabelValues(l)
	}
	m.reg.MustRegister(m.received, m.refused, m.processed, m.duplicates, m.renders, m.groups)
	m.reg.MustRegister(m.requests, m.latency, m.sdkErrors,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "contentsvc_faults_active", Help: "Faults injected and in force."},
			func() float64 { return float64(len(f.list())) }))
	return m
}

// observe counts every request by its route (the pattern, never the raw
// path, so that the series stay few) and status.
func (m *metrics) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err) // the status written is the one counted
		}
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		m.requests.WithLabelValues(route, strconv.Itoa(c.Response().Status)).Inc()
		m.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
		return nil
	}
}

func (m *metrics) handler() echo.HandlerFunc {
	return echo.WrapHandler(promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg}))
}
