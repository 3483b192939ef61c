package pages

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/dashboard"
)

// window is an occurrence of an announced maintenance window, with the
// components it touches.
type window struct {
	dashboard.Announced
	componentIDs []string
}

// announced lists the occurrences of announced maintenance windows
// (announce: true) that overlap [from, to), soonest first, each with its
// status at now: scheduled, in_progress or completed.
func announced(cfg *config.Config, from, to, now time.Time) []window {
	var out []window
	for i := range cfg.Maintenance {
		mw := &cfg.Maintenance[i]
		if !mw.Announce {
			continue
		}
		var ids, names []string
		for _, check := range cfg.MaintenanceChecks(mw) {
			id := cfg.ComponentOf(check)
			if comp := cfg.Component(id); comp != nil && comp.IsPublic() && !slices.Contains(ids, id) {
				ids = append(ids, id)
				name := comp.Name
				if name == "" {
					name = id
				}
				names = append(names, name)
			}
		}
		if len(ids) == 0 && len(cfg.MaintenanceChecks(mw)) > 0 {
			continue // of components the public does not see
		}
		for _, occ := range mw.Occurrences(from, to) {
			status := "completed"
			switch {
			case now.Before(occ.Start):
				status = "scheduled"
			case now.Before(occ.End):
				status = "in_progress"
			}
			name := mw.Reason
			if name == "" {
				name = "Scheduled maintenance"
			}
			out = append(out, window{Announced: dashboard.Announced{ID: mw.ID + "-" + strconv.FormatInt(occ.Start.Unix(), 10), Name: name,
				Status: status, Start: occ.Start.UTC(), End: occ.End.UTC(), Components: names}, componentIDs: ids})
		}
	}
	slices.SortFunc(out, func(a, b window) int { return a.Start.Compare(b.Start) })
	return out
}

// withAnnouncement sets when each window was first shown to the public.
// Recording (the leader, as it evaluates) stores that time for the
// windows in progress or ahead that are new; otherwise a window not yet
// recorded is shown as announced now, and one that ended before nines
// kept the time as announced when it started.
func (s *Source) withAnnouncement(ctx context.Context, ws []window, now time.Time, record bool) error {
	var ahead, past []string
	for _, w := range ws {
		if w.Status == "completed" {
			past = append(past, w.ID)
		} else {
			ahead = append(ahead, w.ID)
		}
	}
	at := time.Time{}
	if record && slices.ContainsFunc(ahead, func(id string) bool { return !s.told.has("announced:" + id) }) {
		at = now
	}
	known, err := s.o.Store.Announce(ctx, ahead, at)
	if err != nil {
		return err
	}
	if !at.IsZero() {
		for _, id := range ahead {
			s.told.add("announced:" + id) // recorded: not written again
		}
	}
	old, err := s.o.Store.Announce(ctx, past, time.Time{})
	if err != nil {
		return err
	}
	for i := range ws {
		w := &ws[i]
		t, ok := known[w.ID]
		if !ok {
			t, ok = old[w.ID]
		}
		switch {
		case !ok && w.Status == "completed":
			t = w.Start
		case !ok:
			t = now
		}
		if t.After(w.Start) && w.Status != "scheduled" {
			t = w.Start // shown first as it began
		}
		w.AnnouncedAt = t.UTC()
	}
	return nil
}

// lifecycle is a maintenance window's timeline at now, newest first:
// scheduled when it was announced, in progress from its start, completed
// at its end.
func lifecycle(w dashboard.Announced, now time.Time) []dashboard.IncidentUpdate {
	when := fmt.Sprintf("%s to %s", w.Start.Format("2006-01-02 15:04 UTC"), w.End.Format("2006-01-02 15:04 UTC"))
	out := []dashboard.IncidentUpdate{{At: w.AnnouncedAt, Status: "scheduled", Body: w.Name + " is scheduled from " + when + ".", Author: "nines"}}
	if !now.Before(w.Start) {
		out = append(out, dashboard.IncidentUpdate{At: w.Start, Status: "in_progress", Body: "Maintenance is in progress.", Author: "nines"})
	}
	if !now.Before(w.End) {
		out = append(out, dashboard.IncidentUpdate{At: w.End, Status: "completed", Body: "Maintenance has completed.", Author: "nines"})
	}
	slices.Reverse(out)
	return out
}

// MaintenancePath is where an announced maintenance window's own page is.
func MaintenancePath(id string) string { return "/maintenance/" + id }

// Maintenance is an announced window's occurrence as an incident with
// its lifecycle (dashboard.Source); nil when there is none within the
// history's reach.
func (s *Source) Maintenance(ctx context.Context, id string) (*dashboard.Incident, error) {
	cfg := s.o.Config()
	now := s.o.Now().UTC()
	ws := announced(cfg, now.AddDate(0, -historyMonths, 0), now.Add(30*24*time.Hour), now)
	k := slices.IndexFunc(ws, func(w window) bool { return w.ID == id })
	if k < 0 {
		return nil, nil
	}
	ws = ws[k : k+1]
	if err := s.withAnnouncement(ctx, ws, now, false); err != nil {
		return nil, err
	}
	w := ws[0].Announced
	in := &dashboard.Incident{Title: w.Name, Status: w.Status, Impact: "maintenance", Components: w.Components, StartedAt: w.Start,
		Updates: lifecycle(w, now)}
	in.UpdatedAt = in.Updates[0].At
	if w.Status == "completed" {
		end := w.End
		in.ResolvedAt = &end
	}
	return in, nil
}
