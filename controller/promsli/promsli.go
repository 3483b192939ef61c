// Package promsli counts the events of request-based SLOs whose source is
// a Prometheus server: for each minute, once the server has scraped it,
// the good and valid events the SLO's two PromQL queries answer at the
// minute's end, stored as the minute's counts (replacing what it had, so
// that a minute asked twice counts once).
package promsli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	pmodel "github.com/prometheus/common/model"

	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/controller/sla"
)

// Store is where the counts go, and what says how far they have come.
type Store interface {
	PutSLOEvents(ctx context.Context, slo string, counts map[sla.Minute]sla.Events) error
	SLOEvents(ctx context.Context, slo string, from, to sla.Minute) (sla.Events, sla.Minute, error)
}

// Options configure the source.
type Options struct {
	Store  Store
	Config func() *config.Config
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	Log *slog.Logger
	// Client asks the servers (default: a 10 s timeout).
	Client *http.Client
	// Failed is told of each SLO whose server could not answer.
	Failed func(slo string)
}

// CatchUp is how far back an SLO's first read reaches, and how many
// minutes one read takes at most.
const CatchUp = 24 * 60

// Source reads the counts.
type Source struct{ o Options }

// New returns the Prometheus source of events SLOs.
func New(o Options) *Source {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Failed == nil {
		o.Failed = func(string) {}
	}
	return &Source{o: o}
}

// Poll reads, for every events SLO counted by Prometheus, the minutes due
// since its newest counts (at most CatchUp of them). One SLO's failure
// leaves the others' reads alone; all failures are returned.
func (s *Source) Poll(ctx context.Context) error {
	cfg := s.o.Config()
	var errs []error
	for i := range cfg.SLOs {
		slo := &cfg.SLOs[i]
		if slo.SLI != config.SLIEvents || slo.Events == nil || slo.Events.Prometheus == nil {
			continue
		}
		if err := s.read(ctx, slo); err != nil {
			s.o.Failed(slo.ID)
			errs = append(errs, fmt.Errorf("slo %s: %w", slo.ID, err))
		}
	}
	return errors.Join(errs...)
}

// read asks for the minutes of slo due now: minute m is due once its end
// is Delay past.
func (s *Source) read(ctx context.Context, slo *config.SLO) error {
	q := slo.Events.Prometheus
	end := sla.MinuteOf(s.o.Now().Add(-q.Delay.D())) // minutes before end are due
	_, newest, err := s.o.Store.SLOEvents(ctx, slo.ID, end-CatchUp, end)
	if err != nil {
		return err
	}
	from := end - CatchUp
	if newest >= from {
		from = newest + 1
	}
	if from >= end {
		return nil
	}
	client, err := api.NewClient(api.Config{Address: q.URL, Client: s.o.Client})
	if err != nil {
		return fmt.Errorf("events.prometheus.url: %w", err)
	}
	prom := v1.NewAPI(client)
	// Each minute's events are the queries' answer at its end.
	r := v1.Range{Start: (from + 1).Time(), End: end.Time(), Step: time.Minute}
	good, err := minutes(ctx, prom, q.Good, r)
	if err != nil {
		return fmt.Errorf("events.prometheus.good: %w", err)
	}
	valid, err := minutes(ctx, prom, q.Valid, r)
	if err != nil {
		return fmt.Errorf("events.prometheus.valid: %w", err)
	}
	counts := make(map[sla.Minute]sla.Events, int(end-from))
	for m := from; m < end; m++ {
		// increase() extrapolates: whole events, and never more good
		// than valid.
		v := count(valid[m])
		counts[m] = sla.Events{Good: min(count(good[m]), v), Total: v}
	}
	return s.o.Store.PutSLOEvents(ctx, slo.ID, counts)
}

// minutes asks query over r and sums its series per minute: the sample
// at a minute's end is that minute's.
func minutes(ctx context.Context, prom v1.API, query string, r v1.Range) (map[sla.Minute]float64, error) {
	// A query should sum its series; one that does not is read at most
	// maxSeries of them.
	val, _, _, err := prom.QueryRange(ctx, query, r, v1.WithLimit(maxSeries), v1.WithTimeout(10*time.Second))
	if err != nil {
		return nil, err
	}
	out := map[sla.Minute]float64{}
	switch v := val.(type) {
	case pmodel.Matrix:
		if len(v) > maxSeries {
			return nil, fmt.Errorf("the query answers %d series: sum them (e.g. sum(increase(...[1m])))", len(v))
		}
		for _, series := range v {
			for _, p := range series.Values {
				out[sla.MinuteOf(p.Timestamp.Time())-1] += float64(p.Value)
			}
		}
	default:
		return nil, fmt.Errorf("the query answers a %s, not a range of numbers", val.Type())
	}
	return out, nil
}

// maxSeries bounds the series one answer is read of.
const maxSeries = 100

// count is a whole, non-negative number of events.
func count(f float64) int {
	if math.IsNaN(f) || f <= 0 {
		return 0
	}
	return int(math.Round(min(f, 1<<40)))
}
