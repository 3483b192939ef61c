package controller

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/nines-sre/nines/controller/config"
	"github.com/nines-sre/nines/controller/sla"
	"github.com/nines-sre/nines/controller/store"
)

// Minute slices: ingest marks the scheduled minute of every stored result
// as dirty, in the result's own transaction; the slicer recomputes the
// minutes those results cover from the stored results. So a late result (a
// spool backfill) updates the verdicts and SLO figures, and a crash between
// ingest and slicing loses nothing.
//
// A result covers the minutes from the one it was scheduled in through
// interval − 1 minute later: with a 5-minute interval each result speaks
// for five minutes; with 30 s, each minute is judged by the results
// scheduled in it.

// coverage is how far before a minute's start a result may be scheduled and
// still speak for that minute.
func coverage(ch *config.Check) time.Duration {
	return max(period(ch)-time.Minute, 0)
}

// dirtyBatch is how many marks one slicing pass takes at most.
const dirtyBatch = 50_000

// EvaluateSlices recomputes every dirty minute slice now, and gives every
// minute of a maintenance window that has begun a maintenance slice, with
// or without results in it.
func (c *Controller) EvaluateSlices(ctx context.Context) error {
	if err := c.backfillLatency(ctx); err != nil {
		return err
	}
	if err := c.sliceMaintenance(ctx); err != nil {
		return err
	}
	for {
		d, err := c.store.DirtyMinutes(ctx, dirtyBatch)
		if err != nil {
			return err
		}
		n := 0
		cfg := c.Config()
		for check, marked := range d.Checks {
			n += len(marked)
			if err := c.sliceCheck(ctx, cfg, check, marked, d.Seq); err != nil {
				return err
			}
		}
		if n < dirtyBatch {
			return nil
		}
	}
}

func (c *Controller) sliceCheck(ctx context.Context, cfg *config.Config, check string, marked []sla.Minute, seq int64) error {
	ch := cfg.Check(check)
	if ch == nil {
		// No longer configured: nothing to judge; clear the marks.
		return c.store.PutSlices(ctx, check, nil, marked, seq)
	}
	cov := coverage(ch)
	span := sla.Minute(cov / time.Minute)
	minutes := map[sla.Minute]bool{}
	for _, m := range marked {
		for k := m; k <= m+span; k++ {
			minutes[k] = true
		}
	}
	ms := make([]sla.Minute, 0, len(minutes))
	for m := range minutes {
		ms = append(ms, m)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i] < ms[j] })
	outcomes, err := c.store.Outcomes(ctx, ch.ID, ms[0].Time().Add(-cov), ms[len(ms)-1].Time().Add(time.Minute))
	if err != nil {
		return err
	}
	sort.Slice(outcomes, func(i, j int) bool { return outcomes[i].Scheduled.Before(outcomes[j].Scheduled) })
	quorum := cfg.CheckQuorum(ch)
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
		lo, hi := start.Add(-cov), start.Add(time.Minute)
		first := sort.Search(len(outcomes), func(i int) bool { return !outcomes[i].Scheduled.Before(lo) })
		regions := map[string]sla.Regional{}
		for _, o := range outcomes[first:] {
			if !o.Scheduled.Before(hi) {
				break
			}
			r := regions[o.Region]
			switch {
			case o.Up:
				r.Up++
			case o.Degraded:
				r.Degraded++
			default:
				r.Down++
			}
			regions[o.Region] = r
		}
		inMaintenance := cfg.InMaintenance(ch.ID, start)
		slices[m] = sla.Verdict(regions, quorum, inMaintenance)
		// Latency occurrences: the results scheduled in this very minute,
		// none while under maintenance.
		for _, th := range thresholds {
			var e sla.Events
			if !inMaintenance {
				limit := time.Duration(th) * time.Millisecond
				for _, o := range outcomes[first:] {
					if !o.Scheduled.Before(hi) {
						break
					}
					if o.Scheduled.Before(start) {
						continue
					}
					e.Total++
					if o.Up && o.Duration < limit {
						e.Good++
					}
				}
			}
			events[th][m] = e
		}
	}
	if err := c.store.PutVerdicts(ctx, ch.ID, slices, events, marked, seq); err != nil {
		return fmt.Errorf("slice %s: %w", check, err)
	}
	return nil
}

// backfillLatency recomputes, from the raw results still kept, the history
// of a latency SLO that is new to the store; it runs once per configuration.
func (c *Controller) backfillLatency(ctx context.Context) error {
	cfg := c.Config()
	c.maintMu.Lock()
	done := c.backfilled == cfg.Version
	c.maintMu.Unlock()
	if done {
		return nil
	}
	for _, ch := range cfg.AllChecks() {
		for _, th := range cfg.LatencyThresholds(ch.ID) {
			has, err := c.store.HasLatencyEvents(ctx, ch.ID, th)
			if err != nil {
				return err
			}
			if !has {
				if err := c.store.MarkAllDirty(ctx, ch.ID); err != nil {
					return fmt.Errorf("backfill latency of %s: %w", ch.ID, err)
				}
				break
			}
		}
	}
	c.maintMu.Lock()
	c.backfilled = cfg.Version
	c.maintMu.Unlock()
	return nil
}

// sliceMaintenance slices the minutes of maintenance windows up to now,
// each minute once per run of the controller.
func (c *Controller) sliceMaintenance(ctx context.Context) error {
	cfg := c.Config()
	now := sla.MinuteOf(c.now())
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
				c.maintMu.Lock()
				done, seen := c.maintDone[key]
				c.maintMu.Unlock()
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
				if err := c.sliceCheck(ctx, cfg, check, marked, 0); err != nil {
					return err
				}
				c.maintMu.Lock()
				c.maintDone[key] = last
				c.maintMu.Unlock()
			}
		}
	}
	return nil
}
