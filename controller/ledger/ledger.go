// Package ledger is the SLA read model: it judges every minute of every
// check from the stored results (minute slices, latency events), and
// reports SLOs, error budgets, burn rates and SLA periods from them. It
// needs a store and the configuration; `nines sla` runs it without a
// controller.
package ledger

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/controller/sla"
	"github.com/nines-sre/nines/controller/store"
)

// Store is what the ledger reads and writes.
type Store interface {
	Outcomes(ctx context.Context, check string, from, to time.Time) ([]store.Outcome, error)
	DirtyMinutes(ctx context.Context, limit int) (store.Dirty, error)
	MarkAllDirty(ctx context.Context, check string) error
	PutVerdicts(ctx context.Context, vs []store.Verdicts) error
	ServiceSlices(ctx context.Context, checks []string, from, to sla.Minute, fn func(sla.Minute, sla.Slice)) error
	Counts(ctx context.Context, checks []string, from, to sla.Minute) (map[string]sla.Counts, error)
	EventCounts(ctx context.Context, checks []string, thresholdMS int64, from, to sla.Minute) (sla.Events, error)
	HasLatencyEvents(ctx context.Context, check string, thresholdMS int64) (bool, error)
	SLOEvents(ctx context.Context, slo string, from, to sla.Minute) (sla.Events, sla.Minute, error)
	FirstSLOEvents(ctx context.Context, slo string) (sla.Minute, error)
	Incidents(ctx context.Context, since time.Time, limit int) ([]store.Incident, error)
}

// Options configure a ledger.
type Options struct {
	Store Store
	// Config returns the configuration in force.
	Config func() *config.Config
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// HealthyAt tells whether a region's probes were heard from at a time;
	// nil means always.
	HealthyAt func(*config.Config) sla.HealthyAt
	// Changed is called when a down or degraded minute is stored.
	Changed func()
	// SliceLag observes, per slicing pass, the seconds from the arrival of
	// the oldest result not yet sliced to the pass's end.
	SliceLag prometheus.Observer
}

// Ledger judges minutes and reports on them.
type Ledger struct {
	o Options
	// unsliced is when the oldest result not yet sliced arrived (Unix
	// nanoseconds, 0 for none).
	unsliced atomic.Int64

	mu         sync.Mutex
	maintDone  map[string]sla.Minute // window/check → last minute sliced
	backfilled string                // configuration version whose latency history is complete
}

// New returns a ledger.
func New(o Options) *Ledger {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.HealthyAt == nil {
		o.HealthyAt = func(*config.Config) sla.HealthyAt { return func(string, time.Time) bool { return true } }
	}
	if o.Changed == nil {
		o.Changed = func() {}
	}
	return &Ledger{o: o, maintDone: map[string]sla.Minute{}}
}

// Arrived notes that results were stored at t for the next pass to slice.
func (l *Ledger) Arrived(t time.Time) { l.unsliced.CompareAndSwap(0, t.UnixNano()) }
