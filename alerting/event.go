package alerting

import (
	"maps"
	"time"

	"github.com/nines-sre/nines/config"
)

// Event is what a system told nines of one key of an event rule: the
// newest trigger's summary, link and details, how many triggers came,
// the first and the last, and when it was resolved (nil while open).
type Event struct {
	Rule, Key     string
	Summary, Link string
	Details       map[string]string
	Count         int64
	FirstAt       time.Time
	LastAt        time.Time
	ResolvedAt    *time.Time
}

// events holds, for each event of rule r not resolved, while its last
// trigger is younger than r.Hold: one alert per event key.
func events(r *config.Rule, s Snapshot, out map[string]Condition) {
	component := ""
	if len(r.Components) == 1 {
		component = r.Components[0]
	}
	for i := range s.Events {
		e := &s.Events[i]
		if e.Rule != r.ID || e.ResolvedAt != nil || s.Now.Sub(e.LastAt) >= r.Hold.D() {
			continue
		}
		details := map[string]any{"event_key": e.Key, "count": e.Count, "first_at": e.FirstAt.UTC(), "last_at": e.LastAt.UTC()}
		if e.Link != "" {
			details["link"] = e.Link
		}
		if len(e.Details) > 0 {
			details["details"] = maps.Clone(e.Details)
		}
		c := Condition{Key: key(r.ID, e.Key), Rule: r, Policy: r.Policy, Subject: e.Key, Severity: r.Severity, Urgency: r.Urgency,
			Summary: e.Summary, Component: component, Class: "event", Details: details}
		out[c.Key] = c
	}
}
