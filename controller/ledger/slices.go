package ledger

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/controller/sla"
	"github.com/nines-sre/nines/controller/store"
)

// Minute slices: ingest marks the scheduled minute of every stored result
// as dirty, in the result's own transaction; the slicer recomputes the
// minutes those results speak for from the stored results. So a late
// result (a spool backfill) updates the verdicts and SLO figures, and a
// crash between ingest and slicing loses nothing.
//
// A minute's verdict comes from the live verdict replayed over time
// (sla.Timeline): at every result, each region's newest result that is
// still fresh counts, so a result speaks for up to Check.Fresh after it was
// scheduled, until a newer one of its region replaces it; the minute takes
// the status that held in it (sla.MinuteSlice). A failure a confirmation
// round did not confirm (sla.Blip) is left out.

// dirtyBatch is how many marks one slicing pass takes at most.
const dirtyBatch = 50_000

// EvaluateSlices recomputes every dirty minute slice now, and gives every
// minute of a maintenance window that has begun a maintenance slice, with
// or without results in it.
func (l *Ledger) EvaluateSlices(ctx context.Context) (err error) {
	if since := l.unsliced.Swap(0); since != 0 {
		defer func() {
			if err != nil {
				l.unsliced.CompareAndSwap(0, since)
				return
			}
			if l.o.SliceLag != nil {
				l.o.SliceLag.Observe(time.Since(time.Unix(0, since)).Seconds())
			}
		}()
	}
	if err := l.backfillLatency(ctx); err != nil {
		return err
	}
	if err := l.sliceMaintenance(ctx); err != nil {
		return err
	}
	for {
		d, err := l.o.Store.DirtyMinutes(ctx, dirtyBatch)
		if err != nil {
			return err
		}
		n := 0
		sl := l.newSlicing(l.o.Config())
		for check, marked := range d.Checks {
			n += len(marked)
			if err := sl.check(ctx, check, marked, d.Seq); err != nil {
				return err
			}
		}
		if err := sl.done(ctx); err != nil {
			return err
		}
		if n < dirtyBatch {
			return nil
		}
	}
}

// sliceFlush is how many checks' verdicts share one transaction.
const sliceFlush = 500

// slicing is one slicing pass: the verdicts judged, stored sliceFlush
// checks to a transaction, and the components whose checks were judged.
type slicing struct {
	l       *Ledger
	cfg     *config.Config
	pending []store.Verdicts
	touched componentMinutes
}

func (l *Ledger) newSlicing(cfg *config.Config) *slicing {
	return &slicing{l: l, cfg: cfg, touched: componentMinutes{}}
}

// put stores v with the next batch.
func (s *slicing) put(ctx context.Context, v store.Verdicts) error {
	s.pending = append(s.pending, v)
	if len(s.pending) >= sliceFlush {
		return s.flush(ctx)
	}
	return nil
}

// flush stores the verdicts pending. The day bars show a minute that was
// down or degraded at once, the rest within publishMaxAge.
func (s *slicing) flush(ctx context.Context) error {
	if len(s.pending) == 0 {
		return nil
	}
	if err := s.l.o.Store.PutVerdicts(ctx, s.pending); err != nil {
		return err
	}
	for _, v := range s.pending {
		if anyBad(v.Slices) {
			s.l.o.Changed()
			break
		}
	}
	s.pending = s.pending[:0]
	return nil
}

// anyBad says whether a minute was down or degraded.
func anyBad(slices map[sla.Minute]sla.Slice) bool {
	for _, s := range slices {
		if s == sla.SliceDown || s == sla.SliceDegraded {
			return true
		}
	}
	return false
}

// done stores what is pending, then the series of the components touched,
// which are combined from their checks' stored minutes.
func (s *slicing) done(ctx context.Context) error {
	if err := s.flush(ctx); err != nil {
		return err
	}
	if err := s.l.sliceComponents(ctx, s); err != nil {
		return err
	}
	return s.flush(ctx)
}

// check judges the minutes marked of check and those around them, and
// adds the minutes judged to its component's in touched.
func (s *slicing) check(ctx context.Context, check string, marked []sla.Minute, seq int64) error {
	l, cfg := s.l, s.cfg
	ch := cfg.Check(check)
	if ch == nil {
		// No longer configured: nothing to judge; clear the marks.
		return s.put(ctx, store.Verdicts{Check: check, Handled: marked, Seq: seq})
	}
	// A result speaks for up to cov after it was scheduled, and a minute's
	// verdict also depends on how long its neighbours were down.
	cov := ch.Fresh()
	span := sla.Minute((cov + time.Minute - 1) / time.Minute)
	minutes := map[sla.Minute]bool{}
	for _, m := range marked {
		for k := m - 1; k <= m+span+1; k++ {
			minutes[k] = true
		}
	}
	ms := make([]sla.Minute, 0, len(minutes))
	for m := range minutes {
		ms = append(ms, m)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i] < ms[j] })
	from, to := ms[0]-1, ms[len(ms)-1]+2
	outcomes, err := l.o.Store.Outcomes(ctx, ch.ID, from.Time().Add(-cov), to.Time())
	if err != nil {
		return err
	}
	sort.Slice(outcomes, func(i, j int) bool { return outcomes[i].Scheduled.Before(outcomes[j].Scheduled) })
	// A result from a region whose probes were not heard from when it was
	// scheduled is a probe problem, like one the probe marked as cut off.
	healthyAt := l.o.HealthyAt(cfg)
	for i := range outcomes {
		o := &outcomes[i]
		o.ProbeProblem = o.ProbeProblem || !healthyAt(o.Region, o.Scheduled)
	}
	// A failure its confirmation round did not confirm counts in no
	// minute and no latency event.
	outcomes = sla.DropBlips(outcomes)
	quorum := cfg.CheckQuorum(ch)
	pieces := sla.Timeline(outcomes, from.Time(), to.Time(), quorum, cov, healthyAt)
	held, charged := sla.HeldByMinute(pieces, from, to), sla.Charged(pieces)
	thresholds := cfg.LatencyThresholds(ch.ID)
	var events store.LatencyEvents
	if len(thresholds) > 0 {
		events = store.LatencyEvents{}
		for _, th := range thresholds {
			events[th] = map[sla.Minute]sla.Events{}
		}
	}
	slices := make(map[sla.Minute]sla.Slice, len(ms))
	for _, m := range ms {
		start := m.Time()
		inMaintenance := cfg.InMaintenance(ch.ID, start)
		if inMaintenance {
			slices[m] = sla.SliceMaintenance
		} else {
			slices[m] = sla.MinuteSlice(held[m], charged[m])
		}
		// Latency occurrences: the results scheduled in this very minute,
		// none while under maintenance.
		if len(thresholds) == 0 {
			continue
		}
		first := sort.Search(len(outcomes), func(i int) bool { return !outcomes[i].Scheduled.Before(start) })
		last := sort.Search(len(outcomes), func(i int) bool { return !outcomes[i].Scheduled.Before(start.Add(time.Minute)) })
		for _, th := range thresholds {
			var e sla.Events
			if !inMaintenance {
				e = sla.LatencyEvents(outcomes[first:last], m, quorum, time.Duration(th)*time.Millisecond)
			}
			events[th][m] = e
		}
	}
	s.touched.add(cfg.ComponentOf(ch.ID), ms[0], ms[len(ms)-1]+1)
	return s.put(ctx, store.Verdicts{Check: ch.ID, Slices: slices, Events: events, Handled: marked, Seq: seq})
}

// componentMinutes gathers, over a slice evaluation, the minutes [from,
// to) of each component whose checks were judged, so that each component's
// own series is computed once per evaluation, not once per check.
type componentMinutes map[string][2]sla.Minute

func (t componentMinutes) add(component string, from, to sla.Minute) {
	if component == "" {
		return
	}
	if r, ok := t[component]; ok {
		from, to = min(from, r[0]), max(to, r[1])
	}
	t[component] = [2]sla.Minute{from, to}
}

// componentPrefix names the series that keeps a component's own minutes.
const componentPrefix = "component:"

// ComponentSeries is where a component's minutes are kept: its check's own
// when it has one; otherwise a series of its own, each minute combined from
// its checks' (sla.Combine), so a minute in which two checks were down is
// one down minute of the component.
func ComponentSeries(comp *config.Component) string {
	if len(comp.Checks) == 1 {
		return comp.Checks[0].ID
	}
	return componentPrefix + comp.ID
}

// sliceComponents recomputes each touched component's own series over its
// minutes: one down minute however many of its checks were down in it. A
// component of one check is that check's series.
func (l *Ledger) sliceComponents(ctx context.Context, s *slicing) error {
	for id, r := range s.touched {
		comp := s.cfg.Component(id)
		if comp == nil || len(comp.Checks) < 2 {
			continue
		}
		ids := make([]string, len(comp.Checks))
		for k := range comp.Checks {
			ids[k] = comp.Checks[k].ID
		}
		combined := map[sla.Minute]sla.Slice{}
		if err := l.o.Store.ServiceSlices(ctx, ids, r[0], r[1], func(m sla.Minute, s sla.Slice) { combined[m] = s }); err != nil {
			return fmt.Errorf("component %s: %w", comp.ID, err)
		}
		if err := s.put(ctx, store.Verdicts{Check: ComponentSeries(comp), Slices: combined}); err != nil {
			return fmt.Errorf("component %s: %w", comp.ID, err)
		}
	}
	return nil
}

// backfillLatency recomputes, from the raw results still kept, the history
// of a latency SLO that is new to the store; it runs once per configuration.
func (l *Ledger) backfillLatency(ctx context.Context) error {
	cfg := l.o.Config()
	l.mu.Lock()
	done := l.backfilled == cfg.Version
	l.mu.Unlock()
	if done {
		return nil
	}
	for _, ch := range cfg.AllChecks() {
		for _, th := range cfg.LatencyThresholds(ch.ID) {
			has, err := l.o.Store.HasLatencyEvents(ctx, ch.ID, th)
			if err != nil {
				return err
			}
			if !has {
				if err := l.o.Store.MarkAllDirty(ctx, ch.ID); err != nil {
					return fmt.Errorf("backfill latency of %s: %w", ch.ID, err)
				}
				break
			}
		}
	}
	l.mu.Lock()
	l.backfilled = cfg.Version
	l.mu.Unlock()
	return nil
}

// sliceMaintenance slices the minutes of maintenance windows up to now,
// each minute once per run of the controller.
func (l *Ledger) sliceMaintenance(ctx context.Context) error {
	cfg := l.o.Config()
	now := sla.MinuteOf(l.o.Now())
	oldest := now - 400*sla.SpanDay
	for i := range cfg.Maintenance {
		mw := &cfg.Maintenance[i]
		for _, occ := range mw.Occurrences(oldest.Time(), now.Time()) {
			ms, me := occ.Start, occ.End
			first := sla.MinuteOf(ms)
			if first.Time().Before(ms) {
				first++
			}
			last := min(sla.MinuteOf(me.Add(-time.Nanosecond)), now-1) // inclusive
			if me.Sub(first.Time()) <= 0 {
				continue
			}
			for _, check := range cfg.MaintenanceChecks(mw) {
				key := fmt.Sprintf("%s/%d/%d/%s", mw.ID, ms.Unix(), me.Unix(), check)
				l.mu.Lock()
				done, seen := l.maintDone[key]
				l.mu.Unlock()
				from := max(first, oldest)
				if seen {
					from = max(from, done+1)
				}
				if from > last {
					continue
				}
				marked := make([]sla.Minute, 0, last-from+1)
				for m := from; m <= last; m++ {
					marked = append(marked, m)
				}
				sl := l.newSlicing(cfg)
				if err := sl.check(ctx, check, marked, 0); err != nil {
					return err
				}
				if err := sl.done(ctx); err != nil {
					return err
				}
				l.mu.Lock()
				l.maintDone[key] = last
				l.mu.Unlock()
			}
		}
	}
	return nil
}
