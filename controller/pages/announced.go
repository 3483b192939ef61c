package pages

import (
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
			if comp := cfg.Component(id); comp != nil && !slices.Contains(ids, id) {
				ids = append(ids, id)
				name := comp.Name
				if name == "" {
					name = id
				}
				names = append(names, name)
			}
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
