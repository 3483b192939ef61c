package pages

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nines-sre/nines/alerting"
	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/controller/store"
	"github.com/nines-sre/nines/model"
)

// SyncIncidents keeps the status page's incidents in step with the alert
// groups: a group whose alerts include a confirmed outage (check_down) is
// one public incident while it is open, naming every component it
// touched, titled by the widest extent it reached (never rewritten to a
// smaller one as regions recover), and resolved with the group.
func (s *Source) SyncIncidents(ctx context.Context) error {
	o := s.o
	now := o.Now()
	cfg := o.Config()
	alerts, err := o.Store.RecentAlerts(ctx, now.Add(-time.Hour))
	if err != nil {
		return err
	}
	// The components as published now: what incident updates say they
	// became (and, remembered run to run, what they were before).
	current, err := s.componentStatuses(ctx)
	if err != nil {
		return err
	}
	// Announced maintenance is dated when it was first shown.
	windows := announced(cfg, now, now.Add(30*24*time.Hour), now)
	if err := s.withAnnouncement(ctx, windows, now, true); err != nil {
		return err
	}
	for i := range alerts {
		a := publicPart(cfg, &alerts[i])
		if a.Incident == 0 {
			continue
		}
		legacy := !a.IsGroup() && a.Group == "" && a.Class == "check_down" // fired before alerts were grouped
		if !legacy && (!a.IsGroup() || !slices.ContainsFunc(a.Members, isOutage)) {
			continue
		}
		switch a.State {
		case alerting.StateFiring, alerting.StateAcknowledged:
			if legacy {
				continue // its incident stays as it was opened, until it resolves
			}
			if err := s.openIncident(ctx, cfg, a, now, current); err != nil {
				return err
			}
		case alerting.StateResolved:
			id, open, err := o.Store.IncidentForAlert(ctx, a.Key, a.Incident)
			if err != nil {
				return err
			}
			if !open {
				continue
			}
			const body = "Recovered: the regions see it up again."
			in, err := o.Store.IncidentByID(ctx, id)
			if err != nil || in == nil {
				return err
			}
			if err := o.Store.AddIncidentUpdate(ctx, id, store.IncidentUpdate{Status: "resolved", Body: body, Author: "nines", At: now,
				Affected: s.affected(in.Components, in, current)}); err != nil {
				return err
			}
			o.Changed()
			if in, err = o.Store.IncidentByID(ctx, id); err != nil || in == nil {
				return err
			}
			if err := s.tellIncident(ctx, fmt.Sprintf("status:incident-%d-resolved", id), in, "resolved", body); err != nil {
				return err
			}
		}
	}
	return s.tellMaintenance(ctx, windows)
}

func isOutage(m alerting.Member) bool { return m.Class == "check_down" }

// impacts ranks Statuspage's incident impacts.
var impacts = []string{"none", "minor", "major", "critical"}

// incidentImpact is the most any outage of the group reaches: critical
// with a critical alert, else major, as far as its component lets an
// outage reach the banner (banner: degraded is minor at most, none none).
func incidentImpact(cfg *config.Config, g *alerting.Alert) string {
	most := 0
	for _, m := range g.Members {
		if !isOutage(m) {
			continue
		}
		k := 2
		if m.Severity == "critical" {
			k = 3
		}
		if c := cfg.Component(m.Component); c != nil {
			switch c.Banner {
			case config.BannerDegraded:
				k = min(k, 1)
			case config.BannerNone:
				k = 0
			}
		}
		most = max(most, k)
	}
	return impacts[most]
}

// publicPart is a group as the public may see it: without the members
// of components not shown to the public (public: false). A group of
// those alone opens no public incident.
func publicPart(cfg *config.Config, a *alerting.Alert) *alerting.Alert {
	hidden := func(m alerting.Member) bool {
		c := cfg.Component(m.Component)
		return c != nil && !c.IsPublic()
	}
	if !slices.ContainsFunc(a.Members, hidden) {
		return a
	}
	pub := *a
	pub.Members = slices.DeleteFunc(slices.Clone(a.Members), hidden)
	return &pub
}

// written remembers what was last written of each open incident.
type written struct {
	mu sync.Mutex
	m  map[string]string
}

func (w *written) has(key, v string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	cur, ok := w.m[key]
	return ok && cur == v
}

func (w *written) put(key, v string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil || len(w.m) > 10_000 {
		w.m = map[string]string{}
	}
	w.m[key] = v
}

// openIncident opens the incident of a firing group, or brings an open
// one up to date: a component newly touched is an update of its own;
// current are the components' statuses as published.
func (s *Source) openIncident(ctx context.Context, cfg *config.Config, g *alerting.Alert, now time.Time, current map[string]string) (err error) {
	o := s.o
	components, checks := outageOf(g)
	title := incidentTitle(cfg, g, o.Live.Latest.Result)
	impact := incidentImpact(cfg, g)
	started := now
	if g.FiredAt != nil {
		started = *g.FiredAt
	}
	// What was written last for this incident is not written again: the
	// rules run as often as verdicts change.
	mark := fmt.Sprintf("%s#%d", g.Key, g.Incident)
	seen := strings.Join([]string{title, impact, strings.Join(components, ","), strings.Join(checks, ",")}, "\x00")
	if s.synced.has(mark, seen) {
		return nil
	}
	defer func() {
		if err == nil {
			s.synced.put(mark, seen)
		}
	}()
	body := "Confirmed from several regions: " + title
	if onlyHeartbeats(g) {
		body = title
	}
	id, opened, err := o.Store.OpenIncident(ctx, store.IncidentOpening{AlertKey: g.Key, AlertSeq: g.Incident, Components: components,
		Checks: checks, Title: title, Impact: impact, Body: body, At: started, Affected: s.affected(components, nil, current)})
	if err != nil {
		return err
	}
	if opened {
		o.Changed() // an open incident: shown until it resolves
		in, err := o.Store.IncidentByID(ctx, id)
		if err != nil || in == nil {
			return err
		}
		return s.tellIncident(ctx, fmt.Sprintf("status:incident-%d-opened", id), in, "investigating", body)
	}
	in, err := o.Store.IncidentByID(ctx, id)
	if err != nil || in == nil || in.ResolvedAt != nil {
		return err
	}
	var added []string
	for _, c := range components {
		if !slices.Contains(in.Components, c) {
			added = append(added, c)
		}
	}
	changed, err := o.Store.ReviseIncident(ctx, id, store.IncidentRevision{Title: title, Impact: impact, Components: components, Checks: checks, At: now})
	if err != nil || !changed {
		return err
	}
	o.Changed()
	if len(added) == 0 {
		return nil
	}
	names := make([]string, len(added))
	for i, c := range added {
		names[i] = componentName(cfg, c)
	}
	body = fmt.Sprintf("%s %s affected too.", joinAnd(names), map[bool]string{true: "is", false: "are"}[len(names) == 1])
	if err := o.Store.AddIncidentUpdate(ctx, id, store.IncidentUpdate{Status: in.Status, Body: body, Author: "nines", At: now,
		Affected: s.affected(added, in, current)}); err != nil {
		return err
	}
	if in, err = o.Store.IncidentByID(ctx, id); err != nil || in == nil {
		return err
	}
	return s.tellIncident(ctx, fmt.Sprintf("status:incident-%d-components-%d", id, len(components)), in, in.Status, body)
}

// outageOf lists the components and checks of a group's outages, in the
// order they joined it.
func outageOf(g *alerting.Alert) (components, checks []string) {
	for _, m := range g.Members {
		if !isOutage(m) {
			continue
		}
		if m.Component != "" && !slices.Contains(components, m.Component) {
			components = append(components, m.Component)
		}
		if !slices.Contains(checks, m.Subject) {
			checks = append(checks, m.Subject)
		}
	}
	if len(components) == 0 {
		components = []string{""}
	}
	return components, checks
}

func onlyHeartbeats(g *alerting.Alert) bool {
	for _, m := range g.Members {
		if isOutage(m) && !m.Heartbeat {
			return false
		}
	}
	return true
}

func componentName(cfg *config.Config, id string) string {
	if c := cfg.Component(id); c != nil && c.Name != "" {
		return c.Name
	}
	return id
}

// joinAnd writes "a", "a and b", "a, b and c".
func joinAnd(names []string) string {
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// incidentTitle states the widest extent a group's outage reached, in a
// customer's words: the components, and the most regions that failed at
// once ("Segments API and Content CDN down in 7 of 7 regions"). Members
// only join and their peaks only grow, so a title never shrinks while the
// regions recover. A job's outage says what its schedule expected, from
// the configuration and its newest result, never from the job's own text.
func incidentTitle(cfg *config.Config, g *alerting.Alert, newest func(check, region string) *model.Result) string {
	var names []string
	peak, regions := 0, 0
	var jobs []string
	for _, m := range g.Members {
		if !isOutage(m) {
			continue
		}
		if n := componentName(cfg, m.Component); n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
		if m.Heartbeat {
			jobs = append(jobs, heartbeatWords(cfg, m.Subject, newest))
			continue
		}
		if m.Regions > 0 && (regions == 0 || m.Peak*regions > peak*m.Regions) {
			peak, regions = m.Peak, m.Regions
		}
	}
	if regions > 0 {
		return fmt.Sprintf("%s down in %d of %d regions", joinAnd(names), peak, regions)
	}
	return joinAnd(jobs)
}

// heartbeatWords says what a job's check missed: the ping due by a
// deadline, or a run it reported failed.
func heartbeatWords(cfg *config.Config, check string, newest func(check, region string) *model.Result) string {
	name := check
	ch := cfg.Check(check)
	if ch != nil && ch.Name != "" {
		name = ch.Name
	}
	r := newest(check, model.PushRegion)
	if r == nil || r.Outcome != model.OutcomeDown {
		return name + " did not report in"
	}
	at := r.Scheduled.UTC()
	if r.ErrorClass == model.ErrTimeout && ch != nil && ch.Heartbeat != nil {
		return fmt.Sprintf("%s: no ping by %s (due %s)", name, at.Format("15:04 UTC"), at.Add(-ch.Heartbeat.Grace.D()).Format("15:04"))
	}
	return fmt.Sprintf("%s: its run failed at %s", name, at.Format("15:04 UTC"))
}
