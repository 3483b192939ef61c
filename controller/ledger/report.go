package ledger

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/controller/sla"
	"github.com/nines-sre/nines/controller/store"
)

// SLAReport covers one period: every SLO with the incidents that spent its
// budget, the maintenance windows excluded, and every check's availability.
type SLAReport struct {
	From        time.Time           `json:"from"`
	To          time.Time           `json:"to"`
	GeneratedAt time.Time           `json:"generated_at"`
	SLOs        []SLOPeriodReport   `json:"slos"`
	Maintenance []MaintenanceReport `json:"maintenance"`
	Checks      []CheckAvailability `json:"checks"`
}

// SLOPeriodReport is one SLO over the period.
type SLOPeriodReport struct {
	SLOReport
	// Met says whether the SLI reached the target; a period with no data
	// (NoData) is never met.
	Met       bool       `json:"met"`
	NoData    bool       `json:"no_data,omitempty"`
	Incidents []Incident `json:"incidents"`
}

// Incident is a run of confirmed-down minutes of an SLO's service.
type Incident struct {
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	Minutes int       `json:"minutes"`
	// BudgetShare is the share of the period's error budget it spent.
	BudgetShare float64 `json:"budget_share"`
}

// MaintenanceReport is a maintenance window that overlaps the period.
type MaintenanceReport struct {
	ID     string    `json:"id"`
	Reason string    `json:"reason,omitempty"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	Checks []string  `json:"checks"`
}

// CheckAvailability is one check's minutes over the period.
type CheckAvailability struct {
	ID        string       `json:"id"`
	Component string       `json:"component"`
	Minutes   MinuteCounts `json:"minutes"`
	// Availability is good / valid minutes; nil with none valid.
	Availability *float64 `json:"availability"`
}

// Report computes the SLA report of [from, to), both rounded down to the
// minute.
func (l *Ledger) Report(ctx context.Context, from, to time.Time) (SLAReport, error) {
	cfg := l.o.Config()
	f, t := sla.MinuteOf(from), sla.MinuteOf(to)
	if t <= f {
		return SLAReport{}, fmt.Errorf("report: the period %s to %s is empty", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	r := SLAReport{From: f.Time(), To: t.Time(), GeneratedAt: l.o.Now().UTC(), SLOs: []SLOPeriodReport{}, Maintenance: []MaintenanceReport{}, Checks: []CheckAvailability{}}
	for i := range cfg.SLOs {
		slo := &cfg.SLOs[i]
		base, err := l.sloPeriod(ctx, slo, f, t)
		if err != nil {
			return r, err
		}
		pr := SLOPeriodReport{SLOReport: base, Incidents: []Incident{}}
		pr.Window = "report period"
		pr.NoData = base.Value == nil
		pr.Met = base.Value != nil && *base.Value*100 >= slo.Target
		if slo.SLI == config.SLIAvailability {
			if pr.Incidents, err = l.incidents(ctx, slo, f, t, base.ErrorBudget.Total); err != nil {
				return r, err
			}
		}
		r.SLOs = append(r.SLOs, pr)
	}
	for i := range cfg.Maintenance {
		mw := &cfg.Maintenance[i]
		for _, occ := range mw.Occurrences(r.From, r.To) {
			r.Maintenance = append(r.Maintenance, MaintenanceReport{ID: mw.ID, Reason: mw.Reason, Start: occ.Start, End: occ.End, Checks: cfg.MaintenanceChecks(mw)})
		}
	}
	counts, err := l.o.Store.Counts(ctx, nil, f, t)
	if err != nil {
		return r, err
	}
	for _, comp := range cfg.Components {
		for _, ch := range comp.Checks {
			n, ok := counts[ch.ID]
			if !ok {
				n = sla.Counts{Unknown: int(t - f)}
			}
			ca := CheckAvailability{ID: ch.ID, Component: comp.ID,
				Minutes: MinuteCounts{Good: n.Good, Bad: n.Bad, Valid: n.Valid(), Unknown: n.Unknown, Maintenance: n.Maintenance}}
			if n.Valid() > 0 {
				v := float64(n.Good) / float64(n.Valid())
				ca.Availability = &v
			}
			r.Checks = append(r.Checks, ca)
		}
	}
	return r, nil
}

// incidents finds the runs of bad service minutes of slo in [from, to). A
// run splits where a confirmed outage of one of its checks opened an
// incident of its own, so two outages in adjacent minutes stay two.
func (l *Ledger) incidents(ctx context.Context, slo *config.SLO, from, to sla.Minute, budget float64) ([]Incident, error) {
	opened := map[sla.Minute]bool{}
	incs, err := l.o.Store.Incidents(ctx, from.Time().Add(-time.Hour), store.MaxIncidents)
	if err != nil {
		return nil, err
	}
	for _, in := range incs {
		if slices.ContainsFunc(slo.Checks, func(c string) bool { return slices.Contains(in.Checks, c) }) {
			opened[sla.MinuteOf(in.StartedAt)] = true
		}
	}
	var out []Incident
	var cur *Incident
	var last sla.Minute
	err = l.o.Store.ServiceSlices(ctx, slo.Checks, from, to, func(m sla.Minute, s sla.Slice) {
		if s != sla.SliceDown {
			return
		}
		if cur != nil && m == last+1 && !opened[m] {
			cur.Minutes++
			cur.End = (m + 1).Time()
		} else {
			out = append(out, Incident{Start: m.Time(), End: (m + 1).Time(), Minutes: 1})
			cur = &out[len(out)-1]
		}
		last = m
	})
	if err != nil {
		return nil, err
	}
	for i := range out {
		if budget > 0 {
			out[i].BudgetShare = float64(out[i].Minutes) / budget
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	if out == nil {
		out = []Incident{}
	}
	return out, nil
}
