package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/controller/sla"
)

// SLOReport is the state of one SLO over its window.
type SLOReport struct {
	ID     string    `json:"id"`
	Name   string    `json:"name"`
	Checks []string  `json:"checks"`
	Target float64   `json:"target"`
	Window string    `json:"window"`
	SLI    string    `json:"sli"`
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	// Threshold is the latency SLI's bound, in milliseconds.
	ThresholdMS int64 `json:"threshold_ms,omitempty"`
	// Value is the SLI: good / valid minutes (availability) or good / all
	// results (latency); nil with none.
	Value *float64 `json:"sli_value"`
	// Minutes are counted for an availability SLI, Events for a latency
	// or events SLI.
	Minutes     *MinuteCounts      `json:"minutes,omitempty"`
	Events      *EventCounts       `json:"events,omitempty"`
	ErrorBudget BudgetReport       `json:"error_budget"`
	BurnRates   map[string]float64 `json:"burn_rates"`
	// ExhaustedIn is how long the budget lasts at the 1h burn rate; nil
	// when it does not run out at that rate, or has run out already:
	// ExhaustedSince is then when the window's errors first overspent it.
	ExhaustedInSeconds *float64   `json:"exhausted_in_seconds"`
	ExhaustedAt        *time.Time `json:"exhausted_at"`
	ExhaustedSince     *time.Time `json:"exhausted_since,omitempty"`
	// Source is where an events SLI's counts come from (push,
	// prometheus), and NewestCounts the newest minute counted.
	Source       string     `json:"source,omitempty"`
	NewestCounts *time.Time `json:"newest_counts,omitempty"`
	// Recent is an events SLI's counts over the last RecentWindow.
	Recent *EventCounts `json:"recent,omitempty"`
}

// RecentWindow is the burn window an events SLI's Recent counts cover.
const RecentWindow = "5m"

// MinuteCounts tallies the minutes of a window.
type MinuteCounts struct {
	Good        int `json:"good"`
	Bad         int `json:"bad"`
	Valid       int `json:"valid"`
	Unknown     int `json:"unknown"`
	Maintenance int `json:"maintenance"`
}

// EventCounts tallies results for a latency SLI.
type EventCounts struct {
	Good  int `json:"good"`
	Bad   int `json:"bad"`
	Total int `json:"total"`
}

// BudgetReport is the error budget, in minutes (availability) or results
// (latency).
type BudgetReport struct {
	Unit           string  `json:"unit"`
	Total          float64 `json:"total"`
	Consumed       float64 `json:"consumed"`
	Remaining      float64 `json:"remaining"`
	RemainingRatio float64 `json:"remaining_ratio"`
}

func budgetReport(unit string, b sla.Budget) BudgetReport {
	return BudgetReport{Unit: unit, Total: b.Total, Consumed: b.Consumed, Remaining: b.Remaining, RemainingRatio: b.RemainingRatio}
}

// sloWindow is the minutes [from, to) an SLO covers at now: whole minutes
// up to the current one (still being decided, so excluded); a rolling
// window of 30 days is exactly 43,200 of them.
func sloWindow(slo *config.SLO, now time.Time) (sla.Minute, sla.Minute) {
	to := sla.MinuteOf(now)
	from, _ := slo.WindowAt(to.Time())
	return sla.MinuteOf(from), to
}

// SLOReport computes slo over its window at now from the stored history.
func (l *Ledger) SLOReport(ctx context.Context, slo *config.SLO, now time.Time) (SLOReport, error) {
	from, to := sloWindow(slo, now)
	return l.sloPeriod(ctx, slo, from, to)
}

// sloPeriod computes slo over the minutes [from, to); burn rates look back
// from to.
func (l *Ledger) sloPeriod(ctx context.Context, slo *config.SLO, from, to sla.Minute) (SLOReport, error) {
	target := slo.Ratio()
	r := SLOReport{ID: slo.ID, Name: slo.Name, Checks: slo.Checks, Target: slo.Target, Window: slo.Window, SLI: slo.SLI,
		From: from.Time(), To: to.Time(), BurnRates: map[string]float64{}}
	var b sla.Budget
	perMinute := 1.0
	// bad counts what spent budget in [from, m).
	var bad func(m sla.Minute) (int, error)
	if slo.SLI == config.SLIEvents {
		e, newest, err := l.o.Store.SLOEvents(ctx, slo.ID, from, to)
		if err == nil && newest > 0 {
			at := newest.Time()
			r.Source, r.NewestCounts = slo.Events.Kind(), &at
		}
		var windows map[string]sla.Events
		var young func(w sla.Minute) int
		if err == nil {
			windows, young, perMinute, err = l.eventWindows(ctx, slo, to)
		}
		if err != nil {
			return r, fmt.Errorf("slo %s: %w", slo.ID, err)
		}
		r.Events = &EventCounts{Good: e.Good, Bad: e.Bad(), Total: e.Total}
		if e.Total > 0 {
			v := float64(e.Good) / float64(e.Total)
			r.Value = &v
		}
		// Real traffic's budget is the target applied to the events it
		// makes: (1 − target) × valid events, as request-based SLOs are.
		// A window that reaches before the first counts has the events
		// of that part at the rate seen since, all good: a new SLO has
		// the budget of a whole window, and a bad minute in its first
		// hour is not a burn of the whole window.
		b = sla.BudgetOf(e.Bad(), e.Total+young(from), target)
		r.ErrorBudget = budgetReport("events", b)
		for _, w := range sla.BurnWindows {
			we := windows[w.Name]
			r.BurnRates[w.Name] = sla.Burn(we.Bad(), we.Total+young(to-sla.Minute(w.D/time.Minute)), target)
			if w.Name == RecentWindow {
				r.Recent = &EventCounts{Good: we.Good, Bad: we.Bad(), Total: we.Total}
			}
		}
		bad = func(m sla.Minute) (int, error) {
			e, _, err := l.o.Store.SLOEvents(ctx, slo.ID, from, m)
			return e.Bad(), err
		}
	} else if slo.SLI == config.SLILatency {
		th := slo.Threshold.D().Milliseconds()
		r.ThresholdMS = th
		e, err := l.o.Store.EventCounts(ctx, slo.Checks, th, from, to)
		if err != nil {
			return r, fmt.Errorf("slo %s: %w", slo.ID, err)
		}
		r.Events = &EventCounts{Good: e.Good, Bad: e.Bad(), Total: e.Total}
		if e.Total > 0 {
			v := float64(e.Good) / float64(e.Total)
			r.Value = &v
		}
		// Events are counted against those the checks are expected to
		// make over the whole window (the target applied to the window,
		// as for minutes): a new installation has the budget of a whole
		// window, and one slow result in its first hour is no burn.
		expected := l.expectedEvents(slo)
		b = sla.BudgetOf(e.Bad(), max(e.Total, int(expected*float64(to-from))), target)
		r.ErrorBudget = budgetReport("events", b)
		for _, w := range sla.BurnWindows {
			we, err := l.o.Store.EventCounts(ctx, slo.Checks, th, to-sla.Minute(w.D/time.Minute), to)
			if err != nil {
				return r, fmt.Errorf("slo %s: %w", slo.ID, err)
			}
			r.BurnRates[w.Name] = sla.Burn(we.Bad(), max(we.Total, int(expected*w.D.Minutes())), target)
			if w.Name == "1h" {
				perMinute = max(float64(we.Total)/60, expected)
			}
		}
		bad = func(m sla.Minute) (int, error) {
			e, err := l.o.Store.EventCounts(ctx, slo.Checks, th, from, m)
			return e.Bad(), err
		}
	} else {
		all, err := l.sloCounts(ctx, slo, from, to)
		if err != nil {
			return r, err
		}
		r.Minutes = &MinuteCounts{Good: all.Good, Bad: all.Bad, Valid: all.Valid(), Unknown: all.Unknown, Maintenance: all.Maintenance}
		if all.Valid() > 0 {
			v := float64(all.Good) / float64(all.Valid())
			r.Value = &v
		}
		// The budget is the target applied to the whole window, whatever
		// part of it has data yet: 99.9 % of 30 days is 43.2 minutes from
		// the first day.
		b = sla.BudgetOf(all.Bad, int(to-from), target)
		r.ErrorBudget = budgetReport("minutes", b)
		for _, w := range sla.BurnWindows {
			wc, err := l.sloCounts(ctx, slo, to-sla.Minute(w.D/time.Minute), to)
			if err != nil {
				return r, err
			}
			r.BurnRates[w.Name] = sla.BurnRate(wc, target)
		}
		bad = func(m sla.Minute) (int, error) {
			c, err := l.sloCounts(ctx, slo, from, m)
			return c.Bad, err
		}
	}
	if b.Remaining <= 0 && b.Consumed > 0 {
		// Spent: when, not a time to come.
		since, err := exhaustedSince(from, to, b.Total, bad)
		if err != nil {
			return r, fmt.Errorf("slo %s: %w", slo.ID, err)
		}
		at := since.Time()
		r.ExhaustedSince = &at
		return r, nil
	}
	if d := sla.ExhaustedInUnits(b, r.BurnRates["1h"], target, perMinute); d != nil {
		secs := d.Seconds()
		at := to.Time().Add(*d)
		r.ExhaustedInSeconds, r.ExhaustedAt = &secs, &at
	}
	return r, nil
}

// eventWindows reads an events SLO's counts over each burn window ending
// at to, and how many events a span from start would have had before the
// SLO's first counts, at the rate counted over the last hour since then
// (young), and that rate a minute.
func (l *Ledger) eventWindows(ctx context.Context, slo *config.SLO, to sla.Minute) (map[string]sla.Events, func(start sla.Minute) int, float64, error) {
	first, err := l.o.Store.FirstSLOEvents(ctx, slo.ID)
	if err != nil {
		return nil, nil, 0, err
	}
	windows := map[string]sla.Events{}
	for _, w := range sla.BurnWindows {
		if windows[w.Name], _, err = l.o.Store.SLOEvents(ctx, slo.ID, to-sla.Minute(w.D/time.Minute), to); err != nil {
			return nil, nil, 0, err
		}
	}
	if first == 0 || first >= to {
		return windows, func(sla.Minute) int { return 0 }, 0, nil
	}
	// The last hour's counts are all since first when it is younger.
	perMinute := float64(windows["1h"].Total) / float64(to-max(first, to-60))
	return windows, func(start sla.Minute) int {
		if start >= first {
			return 0
		}
		return int(perMinute * float64(first-start))
	}, perMinute, nil
}

// exhaustedSince is the end of the first minute of [from, to) by which
// the errors since from had spent more than total.
func exhaustedSince(from, to sla.Minute, total float64, bad func(sla.Minute) (int, error)) (sla.Minute, error) {
	lo, hi := from+1, to // bad(hi) > total; find the least such minute
	for lo < hi {
		mid := lo + (hi-lo)/2
		n, err := bad(mid)
		if err != nil {
			return 0, err
		}
		if float64(n) >= total && n > 0 {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return hi, nil
}

// expectedEvents is how many results the SLO's checks are expected to
// make a minute: each check in each of its regions, once a period.
func (l *Ledger) expectedEvents(slo *config.SLO) float64 {
	if l.o.Config == nil {
		return 0
	}
	cfg := l.o.Config()
	n := 0.0
	for _, id := range slo.Checks {
		ch := cfg.Check(id)
		if ch == nil || ch.Period() <= 0 {
			continue
		}
		regions := max(len(cfg.CheckRegions(ch)), 1)
		n += float64(regions) * float64(time.Minute) / float64(ch.Period())
	}
	return n
}

// sloCounts tallies the SLO's service minutes in [from, to): from rollups
// for a single check, minute by minute when several checks must be combined.
func (l *Ledger) sloCounts(ctx context.Context, slo *config.SLO, from, to sla.Minute) (sla.Counts, error) {
	var n sla.Counts
	if len(slo.Checks) == 1 {
		counts, err := l.o.Store.Counts(ctx, slo.Checks, from, to)
		if err != nil {
			return n, fmt.Errorf("slo %s: %w", slo.ID, err)
		}
		n = counts[slo.Checks[0]]
	} else if err := l.o.Store.ServiceSlices(ctx, slo.Checks, from, to, func(_ sla.Minute, s sla.Slice) { n.Add(s) }); err != nil {
		return n, fmt.Errorf("slo %s: %w", slo.ID, err)
	}
	n.Unknown = int(to-from) - n.Good - n.Bad - n.Maintenance
	return n, nil
}
