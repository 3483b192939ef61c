package pages

import (
	"context"
	"slices"
	"time"

	"github.com/nines-sre/nines/controller/ledger"
	"github.com/nines-sre/nines/controller/sla"
	"github.com/nines-sre/nines/controller/store"
	"github.com/nines-sre/nines/dashboard"
)

// historyMonths is how far back /history goes.
const historyMonths = 12

// History is /history: the last twelve months (UTC) since the first with
// any data, newest first, each with its incidents and their timelines,
// the announced maintenance that took place, and each component's uptime
// over the month.
func (s *Source) History(ctx context.Context) (*dashboard.HistoryPage, error) {
	o := s.o
	cfg := o.Config()
	now := o.Now().UTC()
	this := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	first := this.AddDate(0, -(historyMonths - 1), 0)
	p := &dashboard.HistoryPage{Title: cfg.Dashboard.Title, GeneratedAt: now}
	incs, err := o.Store.Incidents(ctx, first, store.MaxIncidents)
	if err != nil {
		return nil, err
	}
	byMonth := map[time.Time][]dashboard.Incident{}
	for _, in := range convertIncidents(incs) {
		m := time.Date(in.StartedAt.Year(), in.StartedAt.Month(), 1, 0, 0, 0, 0, time.UTC)
		byMonth[m] = append(byMonth[m], in)
	}
	// Daily buckets of each component's own series, summed by month.
	from, to := sla.MinuteOf(first), sla.MinuteOf(now)/sla.SpanDay*sla.SpanDay+sla.SpanDay
	hist, err := o.Store.History(ctx, nil, sla.SpanDay, from, to)
	if err != nil {
		return nil, err
	}
	windows := announced(cfg, first, now.Add(30*24*time.Hour), now)
	if err := s.withAnnouncement(ctx, windows, now, false); err != nil {
		return nil, err
	}
	for _, w := range windows {
		if w.Status != "completed" {
			p.Ahead = append(p.Ahead, w.Announced)
		}
	}
	for m := this; !m.Before(first); m = m.AddDate(0, -1, 0) {
		hm := dashboard.HistoryMonth{Month: m, Incidents: byMonth[m], Maintenance: []dashboard.Announced{}, Uptime: []dashboard.MonthUptime{}}
		if hm.Incidents == nil {
			hm.Incidents = []dashboard.Incident{}
		}
		slices.SortFunc(hm.Incidents, func(a, b dashboard.Incident) int { return b.StartedAt.Compare(a.StartedAt) })
		next := m.AddDate(0, 1, 0)
		for _, w := range windows {
			if w.Status == "completed" && !w.Start.Before(m) && w.Start.Before(next) {
				hm.Maintenance = append(hm.Maintenance, w.Announced)
			}
		}
		for _, comp := range cfg.Components {
			if !comp.IsPublic() {
				continue
			}
			var n sla.Counts
			for _, b := range hist[ledger.ComponentSeries(&comp)] {
				if !b.Start.Before(m) && b.Start.Before(next) {
					n.Good += b.Counts.Good
					n.Bad += b.Counts.Bad
				}
			}
			u := dashboard.MonthUptime{Component: comp.ID, Name: comp.Name}
			if n.Valid() > 0 {
				v := float64(n.Good) / float64(n.Valid())
				u.Uptime = &v
			}
			if u.Name == "" {
				u.Name = comp.ID
			}
			hm.Uptime = append(hm.Uptime, u)
		}
		p.Months = append(p.Months, hm)
	}
	// Months before anything was known say nothing: the history starts at
	// the first month with data (this month at least).
	for len(p.Months) > 1 && empty(p.Months[len(p.Months)-1]) {
		p.Months = p.Months[:len(p.Months)-1]
	}
	return p, nil
}

func empty(m dashboard.HistoryMonth) bool {
	if len(m.Incidents) > 0 || len(m.Maintenance) > 0 {
		return false
	}
	for _, u := range m.Uptime {
		if u.Uptime != nil {
			return false
		}
	}
	return true
}

// Incident is one incident with its timeline; nil when there is none.
func (s *Source) Incident(ctx context.Context, id int64) (*dashboard.Incident, error) {
	in, err := s.o.Store.IncidentByID(ctx, id)
	if err != nil || in == nil {
		return nil, err
	}
	out := convertIncidents([]store.Incident{*in})[0]
	return &out, nil
}
