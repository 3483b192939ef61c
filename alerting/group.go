package alerting

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/nines-sre/nines/config"
)

// GroupKey is the key of the group an alert raised on c joins:
// group:POLICY, then the value of each other group_by label in order
// (group:page/segments for [component]). A label the alert lacks (the
// region of a check's alert) reads "-".
func GroupKey(by []string, c Condition) string {
	var b strings.Builder
	b.WriteString(config.GroupRule + ":" + c.Policy)
	seen := map[string]bool{"policy": true}
	for _, l := range by {
		if seen[l] {
			continue
		}
		seen[l] = true
		v := ""
		switch l {
		case "component":
			v = c.Component
		case "check":
			v = c.Subject
		case "rule":
			if c.Rule != nil {
				v = c.Rule.ID
			}
		case "region":
			v = c.Region
		}
		if v == "" {
			v = "-"
		}
		b.WriteString("/" + v)
	}
	return b.String()
}

// GroupPolicy is the escalation policy of the group key.
func GroupPolicy(key string) string {
	p := strings.TrimPrefix(key, config.GroupRule+":")
	if i := strings.IndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return p
}

// groupOf is the group an alert joins as it fires: the group of the open
// alert that explains it (a burn of an SLO whose checks page), when that
// group is at least as urgent; else its own by the group_by labels.
func groupOf(al *config.Alerting, c Condition, members map[string]*Alert) (group, cause string) {
	if m := members[c.Cause]; c.Cause != "" && m != nil && m.Group != "" && (m.State == StateFiring || m.State == StateAcknowledged) &&
		(c.Urgency != "high" || m.Urgency == "high") {
		return m.Group, c.Cause
	}
	return GroupKey(al.GroupBy, c), ""
}

// syncGroups brings every group up to date with the alerts that fire in
// it: opens the groups new alerts need, notifies, updates, escalates and
// resolves.
func (e *Engine) syncGroups(ctx context.Context, al *config.Alerting, members, groups map[string]*Alert, now time.Time) error {
	byGroup := map[string][]*Alert{}
	for _, m := range members {
		if m.Group != "" && (m.State == StateFiring || m.State == StateAcknowledged) {
			byGroup[m.Group] = append(byGroup[m.Group], m)
		}
	}
	keys := make([]string, 0, len(byGroup)+len(groups))
	for k := range byGroup {
		keys = append(keys, k)
	}
	for k := range groups {
		if _, ok := byGroup[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var due time.Time
	defer func() {
		e.mu.Lock()
		e.nextDue = due
		e.mu.Unlock()
	}()
	for _, k := range keys {
		ms := byGroup[k]
		sort.Slice(ms, func(i, j int) bool { return ms[i].Key < ms[j].Key })
		g := groups[k]
		if g == nil {
			if len(ms) == 0 {
				continue
			}
			g = &Alert{Key: k, Rule: config.GroupRule, Subject: strings.TrimPrefix(k, config.GroupRule+":"), State: StatePending, PendingSince: now}
			prev, err := e.store.Alert(ctx, k)
			if err != nil {
				return err
			}
			if prev != nil {
				g.Incident, g.Revision = prev.Incident, prev.Revision
			}
		}
		if err := e.group(ctx, al, g, ms, now); err != nil && !errors.Is(err, ErrConflict) {
			return err
		}
		if g.State == StatePending {
			if at := g.PendingSince.Add(al.Wait()); due.IsZero() || at.Before(due) {
				due = at
			}
		}
	}
	return nil
}

// tickSlack is how early an evaluation may come and still count as the
// one at a group's deadline: evaluations are timed by the clock, a few
// milliseconds off.
const tickSlack = 50 * time.Millisecond

// group moves one group along: ms are its alerts firing now.
func (e *Engine) group(ctx context.Context, al *config.Alerting, g *Alert, ms []*Alert, now time.Time) error {
	fresh := g.Revision == 0 && g.State == StatePending && len(g.Members) == 0
	changed, news := g.merge(ms, now)
	g.describe()
	var notes []Notification
	switch g.State {
	case StatePending:
		if len(ms) == 0 {
			// Every alert went before the group waited out group_wait.
			g.State = StateResolved
			resolved := now
			g.ResolvedAt = &resolved
			return e.store.SaveAlert(ctx, g, nil, now)
		}
		if now.Sub(g.PendingSince)+tickSlack < al.Wait() {
			if !fresh && !changed {
				return nil
			}
			return e.store.SaveAlert(ctx, g, nil, now)
		}
		g.State = StateFiring
		g.Incident++
		fired := now
		g.FiredAt, g.AckedAt, g.ResolvedAt, g.AckedBy, g.GoodSince = &fired, nil, nil, "", nil
		g.Level, g.Round, g.Notified = 0, 0, nil
		notes = e.escalateTo(al, g, 0, now)
		g.Updated, g.Stale = &fired, false
		e.log.Warn("alert group firing", "key", g.Key, "incident", g.Incident, "alerts", len(ms), "severity", g.Severity, "summary", g.Summary)
	case StateFiring, StateAcknowledged:
		if len(ms) == 0 {
			return e.resolve(ctx, al, g, now)
		}
		g.Stale = g.Stale || news
		if g.State == StateFiring && slices.ContainsFunc(ms, func(a *Alert) bool { return a.GoodSince == nil && a.Cause == "" }) {
			// It climbs only while one of its alerts still fails (a burn
			// that joined for an outage follows the outage).
			due, err := e.escalationDue(ctx, g, now)
			if err != nil {
				return err
			}
			if due {
				changed = true
				if notes = e.climb(al, g, now); len(notes) > 0 {
					g.Updated, g.Stale = &now, false
				}
			}
		}
		if g.Stale && len(notes) == 0 && (g.Updated == nil || now.Sub(*g.Updated) >= al.Interval()) {
			for _, t := range g.Notified {
				n := e.note(al, g, t, ActionTrigger, now)
				n.Message.Update = true
				notes = append(notes, n)
			}
			g.Updated, g.Stale = &now, false
			changed = true
		}
		if !changed && len(notes) == 0 {
			return nil
		}
	}
	return e.save(ctx, g, notes, now)
}

// merge brings a group's members up to date with its alerts firing now:
// new ones join, and those gone are marked recovered. changed says the
// group must be saved; news, that its notifiers should hear of it (an
// alert joined, rejoined or recovered; regions failing or recovering one
// by one are not news, and the next notification carries them).
func (g *Alert) merge(ms []*Alert, now time.Time) (changed, news bool) {
	at := make(map[string]int, len(g.Members))
	for i, m := range g.Members {
		at[m.Key] = i
	}
	firing := make(map[string]bool, len(ms))
	for _, a := range ms {
		firing[a.Key] = true
		m := Member{Key: a.Key, Rule: a.Rule, Class: a.Class, Subject: a.Subject, Summary: a.Summary, Component: a.Component,
			Severity: a.Severity, Urgency: a.Urgency, Failing: a.Failing, Regions: a.Regions, Peak: len(a.Failing),
			Holding: a.GoodSince == nil, Cause: a.Cause, Heartbeat: a.Heartbeat}
		if a.FiredAt != nil {
			m.Since = *a.FiredAt
		}
		i, ok := at[a.Key]
		if !ok {
			g.Members = append(g.Members, m)
			changed, news = true, true
			continue
		}
		old := g.Members[i]
		if old.Recovered != nil {
			changed, news = true, true // failing again
		} else {
			m.Since = old.Since
		}
		m.Peak = max(m.Peak, old.Peak)
		if old.Holding != m.Holding || !slices.Equal(old.Failing, m.Failing) || old.Summary != m.Summary || old.Severity != m.Severity || old.Cause != m.Cause {
			changed = true
		}
		g.Members[i] = m
	}
	for i := range g.Members {
		if m := &g.Members[i]; !firing[m.Key] && m.Recovered == nil {
			t := now
			m.Recovered, m.Holding, m.Failing = &t, false, nil
			changed, news = true, true
		}
	}
	return changed, news
}

var severityRank = map[string]int{"info": 0, "warning": 1, "error": 2, "critical": 3}

// describe sets what a group's notifications say from its members: the
// worst severity and urgency of those open, the component they share, and
// a summary and details that list every alert failing with its regions
// and since when, and those that recovered.
func (g *Alert) describe() {
	g.Policy = GroupPolicy(g.Key)
	var open []Member
	components := map[string]bool{}
	for _, m := range g.Members {
		components[m.Component] = true
		if m.Recovered == nil {
			open = append(open, m)
		}
	}
	if len(open) == 0 {
		return // a resolving group keeps what it said last
	}
	// Checks first, then what joined them, each in the order it fired.
	sort.SliceStable(open, func(i, j int) bool {
		ci, cj := open[i].Class == "check_down", open[j].Class == "check_down"
		if ci != cj {
			return ci
		}
		return open[i].Since.Before(open[j].Since)
	})
	g.Severity, g.Urgency, g.Class = open[0].Severity, "low", open[0].Class
	for _, m := range open {
		if severityRank[m.Severity] > severityRank[g.Severity] {
			g.Severity = m.Severity
		}
		if m.Urgency == "high" {
			g.Urgency = "high"
		}
	}
	g.Component = ""
	if len(components) == 1 {
		for c := range components {
			g.Component = c
		}
	}
	if len(open) == 1 {
		g.Summary = open[0].Summary
	} else {
		parts := make([]string, len(open))
		for i, m := range open {
			parts[i] = m.Summary
		}
		g.Summary = fmt.Sprintf("%d alerts: %s", len(open), strings.Join(parts, "; "))
	}
	failing, recovered := []map[string]any{}, []map[string]any{}
	for _, m := range g.Members {
		d := map[string]any{"alert": m.Key, "summary": m.Summary, "since": m.Since.UTC().Format(time.RFC3339)}
		if len(m.Failing) > 0 || m.Regions > 0 {
			d["failing_regions"], d["regions"] = m.Failing, m.Regions
		}
		if m.Cause != "" {
			d["explained_by"] = m.Cause
		}
		if m.Recovered != nil {
			d["recovered_at"] = m.Recovered.UTC().Format(time.RFC3339)
			recovered = append(recovered, d)
			continue
		}
		if !m.Holding {
			d["recovering"] = true
		}
		failing = append(failing, d)
	}
	g.Details = map[string]any{"group": g.Key, "failing": failing}
	if len(recovered) > 0 {
		g.Details["recovered"] = recovered
	}
}
