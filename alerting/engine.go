package alerting

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/model"
)

// Store keeps alerts and the outbox. SaveAlert commits an alert's new state
// and its notifications in one transaction: after a crash either both are
// there or neither. It fails with ErrConflict, saving nothing, when the
// stored alert's revision is not a.Revision; on success a.Revision is the
// new one.
type Store interface {
	OpenAlerts(ctx context.Context) ([]Alert, error)
	RecentAlerts(ctx context.Context, since time.Time) ([]Alert, error)
	Alert(ctx context.Context, key string) (*Alert, error)
	SaveAlert(ctx context.Context, a *Alert, notes []Notification, at time.Time) error
	DueNotifications(ctx context.Context, now time.Time, perLane, limit int) ([]Notification, error)
	RecordAttempt(ctx context.Context, n *Notification, a Attempt) error
}

// Engine runs the lifecycle of every alert and of the groups they notify
// through.
//
// A rule's alert (down:api, burn:avail/page, regional:eu-london) goes
// pending, firing and resolved as its condition holds, with the rule's
// `for` and `resolve_after`; it never notifies on its own. When it fires
// it joins a group (GroupKey: its policy and the alerting.group_by
// labels, or the group of the paging alert that explains a burn), and the
// group is what people hear of: one PagerDuty incident, one Slack series,
// one public incident. A group waits group_wait for more alerts, then
// notifies its policy's first level; it climbs the policy while
// unacknowledged and while one of its alerts still fails; it tells of
// alerts that join or recover at most every group_interval; it resolves
// when the last of them resolves.
type Engine struct {
	store  Store
	log    *slog.Logger
	source string
	// Wake, when set, is signalled after notifications are queued.
	Wake chan<- struct{}
	// Delivered, when set, tells whether every trigger of an alert's
	// incident at a level, queued since since, was delivered (or failed
	// for good), and when the last one was. The next level waits for it,
	// and its delay counts from then: level 2 is never paged before level
	// 1 was reached.
	Delivered func(ctx context.Context, key string, incident int64, level int, since time.Time) (at time.Time, done bool, err error)

	// pagedUntil is when each check's last check_down alert stopped
	// holding, read from the store at the first tick.
	pagedUntil map[string]time.Time

	mu      sync.Mutex
	nextDue time.Time // when the first group waiting out group_wait is due
}

// NextDue is when a group waiting out its group_wait is due to notify, as
// of the last tick (zero when none waits): a tick then pages on time.
func (e *Engine) NextDue() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.nextDue
}

// NewEngine returns an engine over store; source names this controller in
// notifications.
func NewEngine(store Store, log *slog.Logger, source string) *Engine {
	return &Engine{store: store, log: log, source: source}
}

// pagedMemory is how far back the first tick reads when checks last
// paged: longer than the short window of any burn tier.
const pagedMemory = 24 * time.Hour

// Tick evaluates the rules against a snapshot and moves every alert along
// its lifecycle: conditions that hold start or keep alerts, `for` turns
// pending into firing, alerts whose condition stayed gone for
// resolve_after resolve; then every group follows its alerts.
func (e *Engine) Tick(ctx context.Context, set Setup, s Snapshot) error {
	al := set.Alerting
	open, err := e.store.OpenAlerts(ctx)
	if err != nil {
		return err
	}
	members, groups := map[string]*Alert{}, map[string]*Alert{}
	for i := range open {
		if open[i].IsGroup() {
			groups[open[i].Key] = &open[i]
		} else {
			members[open[i].Key] = &open[i]
		}
	}
	if err := e.remember(ctx, s.Now); err != nil {
		return err
	}
	s.Open = make(map[string]bool, len(members))
	for k := range members {
		s.Open[k] = true
	}
	s.Paging, s.PagedUntil = e.paging(members, s.Now)
	conds := Evaluate(set, s)
	now := s.Now
	// An alert changed meanwhile (ErrConflict: acknowledged through the API,
	// say) is left for the next tick, which reads it afresh.
	for k, c := range conds {
		a := members[k]
		if a == nil {
			a = &Alert{Key: k, Rule: c.Rule.ID, Subject: c.Subject, State: StatePending, PendingSince: now}
			if prev, err := e.store.Alert(ctx, k); err != nil {
				return err
			} else if prev != nil {
				a.Incident, a.Revision = prev.Incident, prev.Revision
			}
			members[k] = a
		}
		if err := e.hold(ctx, al, a, c, members, now); err != nil && !errors.Is(err, ErrConflict) {
			return err
		}
	}
	for k, a := range members {
		if _, holds := conds[k]; holds {
			continue
		}
		if err := e.gone(ctx, al, a, now); err != nil && !errors.Is(err, ErrConflict) {
			return err
		}
	}
	return e.syncGroups(ctx, al, members, groups, now)
}

// remember reads, once, when each check last paged.
func (e *Engine) remember(ctx context.Context, now time.Time) error {
	if e.pagedUntil != nil {
		return nil
	}
	recent, err := e.store.RecentAlerts(ctx, now.Add(-pagedMemory))
	if err != nil {
		return fmt.Errorf("read recent alerts: %w", err)
	}
	e.pagedUntil = map[string]time.Time{}
	for i := range recent {
		a := &recent[i]
		if a.Class != "check_down" || a.FiredAt == nil {
			continue
		}
		until := now
		switch {
		case a.GoodSince != nil:
			until = *a.GoodSince
		case a.ResolvedAt != nil:
			until = *a.ResolvedAt
		}
		for _, ch := range downChecks(a) {
			if until.After(e.pagedUntil[ch]) {
				e.pagedUntil[ch] = until
			}
		}
	}
	return nil
}

// paging names the check_down alert that holds for each check (one
// waiting out its resolve_after no longer explains a burn), and when each
// check last paged (now, while its alert holds).
func (e *Engine) paging(members map[string]*Alert, now time.Time) (map[string]string, map[string]time.Time) {
	paging := map[string]string{}
	for _, a := range members {
		if a.Class != "check_down" || (a.State != StateFiring && a.State != StateAcknowledged) {
			continue
		}
		until := now
		if a.GoodSince != nil {
			until = *a.GoodSince
		}
		for _, ch := range downChecks(a) {
			if k, ok := paging[ch]; a.GoodSince == nil && (!ok || a.Key < k) {
				paging[ch] = a.Key
			}
			if until.After(e.pagedUntil[ch]) {
				e.pagedUntil[ch] = until
			}
		}
	}
	for ch, t := range e.pagedUntil {
		if now.Sub(t) > pagedMemory {
			delete(e.pagedUntil, ch)
		}
	}
	return paging, maps.Clone(e.pagedUntil)
}

// downChecks are the checks a check_down alert is about: its own, and
// the dependents folded into it.
func downChecks(a *Alert) []string {
	out := []string{a.Subject}
	switch also := a.Details["also_down"].(type) {
	case []string:
		out = append(out, also...)
	case []any:
		for _, v := range also {
			if s, ok := v.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

func (e *Engine) hold(ctx context.Context, al *config.Alerting, a *Alert, c Condition, members map[string]*Alert, now time.Time) error {
	changed := a.GoodSince != nil || a.Summary != c.Summary || a.Severity != c.Severity || !slices.Equal(a.Failing, c.Failing)
	a.GoodSince = nil
	a.Severity, a.Urgency, a.Policy, a.Summary, a.Component, a.Class, a.Details = c.Severity, c.Urgency, c.Policy, c.Summary, c.Component, c.Class, c.Details
	a.Failing, a.Regions, a.Heartbeat, a.Region = c.Failing, c.Regions, c.Heartbeat, c.Region
	switch a.State {
	case StatePending:
		if now.Sub(a.PendingSince) < c.Rule.For.D() {
			// Stored once, so that `for` counts from first sight across restarts.
			return e.saveIfNew(ctx, a, now)
		}
		a.State = StateFiring
		a.Incident++
		fired := now
		a.FiredAt, a.AckedAt, a.ResolvedAt, a.AckedBy = &fired, nil, nil, ""
		a.Level, a.Round, a.Notified, a.NextEscalation, a.LevelAt = 0, 0, nil, nil, nil
		a.Group, a.Cause = groupOf(al, c, members)
		e.log.Warn("alert firing", "key", a.Key, "incident", a.Incident, "group", a.Group, "severity", a.Severity, "summary", a.Summary)
	case StateFiring, StateAcknowledged:
		if a.Group == "" && len(a.Notified) == 0 {
			// Fired before alerts were grouped, and never notified.
			a.Group, a.Cause = groupOf(al, c, members)
			changed = true
		}
		if !changed {
			return nil
		}
	}
	return e.save(ctx, a, nil, now)
}

// save commits the alert with its notifications and wakes the dispatcher.
func (e *Engine) save(ctx context.Context, a *Alert, notes []Notification, now time.Time) error {
	if err := e.store.SaveAlert(ctx, a, notes, now); err != nil {
		return fmt.Errorf("save alert %s: %w", a.Key, err)
	}
	if len(notes) > 0 && e.Wake != nil {
		select {
		case e.Wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// saveIfNew stores a new pending alert once.
func (e *Engine) saveIfNew(ctx context.Context, a *Alert, now time.Time) error {
	cur, err := e.store.Alert(ctx, a.Key)
	if err != nil {
		return err
	}
	if cur != nil && cur.State == StatePending {
		return nil
	}
	return e.store.SaveAlert(ctx, a, nil, now)
}

// escalationDue reports whether an unacknowledged alert climbs now: its
// next level's delay has passed since the current level's notifications
// were delivered.
func (e *Engine) escalationDue(ctx context.Context, a *Alert, now time.Time) (bool, error) {
	if a.NextEscalation == nil || now.Before(*a.NextEscalation) {
		return false, nil
	}
	if e.Delivered == nil || a.LevelAt == nil {
		return true, nil
	}
	at, done, err := e.Delivered(ctx, a.Key, a.Incident, a.Level, *a.LevelAt)
	if err != nil || !done {
		return false, err
	}
	return !now.Before(at.Add(a.NextEscalation.Sub(*a.LevelAt))), nil
}

// climb moves an unacknowledged alert to its policy's next level, or
// around again while repeats remain.
func (e *Engine) climb(al *config.Alerting, a *Alert, now time.Time) []Notification {
	pol := al.Policy(a.Policy)
	if pol == nil {
		a.NextEscalation = nil
		return nil
	}
	next := a.Level + 1
	if next >= len(pol.Levels) {
		if a.Round >= pol.Repeat {
			a.NextEscalation = nil
			return nil
		}
		a.Round++
		next = 0
	}
	e.log.Warn("alert escalated", "key", a.Key, "level", next+1, "round", a.Round+1)
	return e.escalateTo(al, a, next, now)
}

// escalateTo notifies the targets of level and schedules the next one.
func (e *Engine) escalateTo(al *config.Alerting, a *Alert, level int, now time.Time) []Notification {
	a.Level = level
	a.NextEscalation = nil
	levelAt := now
	a.LevelAt = &levelAt
	pol := al.Policy(a.Policy)
	if pol == nil {
		e.log.Error("alert has no escalation policy", "key", a.Key, "policy", a.Policy)
		return nil
	}
	if level+1 < len(pol.Levels) || a.Round < pol.Repeat {
		nextLevel := 0
		if level+1 < len(pol.Levels) {
			nextLevel = level + 1
		}
		at := now.Add(pol.Levels[nextLevel].Delay.D())
		if nextLevel == 0 {
			// A repeat gives the last level as long as the level before it
			// had (at least a minute) before starting over.
			wait := pol.Levels[0].Delay.D()
			if wait == 0 {
				wait = pol.Levels[len(pol.Levels)-1].Delay.D()
			}
			at = now.Add(max(wait, time.Minute))
		}
		a.NextEscalation = &at
	}
	var notes []Notification
	for _, t := range pol.Levels[level].Targets {
		notes = append(notes, e.note(al, a, t, ActionTrigger, now))
		if !slices.Contains(a.Notified, t) {
			a.Notified = append(a.Notified, t)
		}
	}
	return notes
}

func (e *Engine) note(al *config.Alerting, a *Alert, notifier string, action Action, now time.Time) Notification {
	link := ""
	if al.DashboardURL != "" {
		link = strings.TrimRight(al.DashboardURL, "/") + model.AlertPath(a.Key)
	}
	group := a.Rule
	if a.IsGroup() {
		group = a.Subject
	}
	return Notification{Notifier: notifier, CreatedAt: now, NextAt: now, Message: Message{
		AlertKey: a.Key, Incident: a.Incident, Action: action, Severity: a.Severity, Urgency: a.Urgency, Summary: a.Summary,
		Source: e.source, Component: a.Component, Group: group, Class: a.Class, Details: a.Details, Link: link, Level: a.Level, At: now,
	}}
}

// gone handles an alert whose condition no longer holds: a pending one is
// dropped; a firing or acknowledged one resolves once it stays gone.
func (e *Engine) gone(ctx context.Context, al *config.Alerting, a *Alert, now time.Time) error {
	if a.State == StatePending {
		a.State = StateResolved
		resolved := now
		a.ResolvedAt = &resolved
		return e.store.SaveAlert(ctx, a, nil, now)
	}
	newly := a.GoodSince == nil
	if newly {
		good := now
		a.GoodSince = &good
	}
	after := time.Duration(0)
	for _, r := range al.Rules {
		if r.ID == a.Rule {
			after = r.ResolveAfter.D()
		}
	}
	if now.Sub(*a.GoodSince) < after {
		if !newly {
			return nil
		}
		return e.store.SaveAlert(ctx, a, nil, now)
	}
	return e.resolve(ctx, al, a, now)
}

func (e *Engine) resolve(ctx context.Context, al *config.Alerting, a *Alert, now time.Time) error {
	a.State = StateResolved
	resolved := now
	a.ResolvedAt, a.NextEscalation = &resolved, nil
	var notes []Notification
	for _, t := range a.Notified {
		notes = append(notes, e.note(al, a, t, ActionResolve, now))
	}
	e.log.Info("alert resolved", "key", a.Key, "incident", a.Incident)
	return e.save(ctx, a, notes, now)
}

// Acknowledge stops the escalation of an open alert and tells every
// notifier that was triggered.
func (e *Engine) Acknowledge(ctx context.Context, al *config.Alerting, key, by string, now time.Time) (*Alert, error) {
	// A rule evaluation may save the alert between our read and write:
	// read again and retry.
	for try := 0; ; try++ {
		a, err := e.acknowledge(ctx, al, key, by, now)
		if !errors.Is(err, ErrConflict) || try == 4 {
			return a, err
		}
	}
}

func (e *Engine) acknowledge(ctx context.Context, al *config.Alerting, key, by string, now time.Time) (*Alert, error) {
	a, err := e.store.Alert(ctx, key)
	if err != nil {
		return nil, err
	}
	if a == nil {
		return nil, fmt.Errorf("alert %q: %w", key, ErrNotFound)
	}
	if !a.IsGroup() && a.Group != "" && (a.State == StateFiring || a.State == StateAcknowledged) {
		// An alert is acknowledged through the group that notified of it.
		return e.acknowledge(ctx, al, a.Group, by, now)
	}
	switch a.State {
	case StateAcknowledged:
		return a, nil
	case StateFiring:
	default:
		return nil, fmt.Errorf("alert %q is %s: %w", key, a.State, ErrNotOpen)
	}
	a.State = StateAcknowledged
	at := now
	a.AckedAt, a.AckedBy, a.NextEscalation = &at, by, nil
	var notes []Notification
	for _, t := range a.Notified {
		notes = append(notes, e.note(al, a, t, ActionAcknowledge, now))
	}
	e.log.Info("alert acknowledged", "key", key, "by", by)
	return a, e.save(ctx, a, notes, now)
}

// Sentinel errors for callers of Acknowledge.
var (
	ErrNotFound = fmt.Errorf("no such alert")
	ErrNotOpen  = fmt.Errorf("alert is not firing")
	// ErrConflict: the alert was saved by someone else since it was read.
	ErrConflict = errors.New("alert changed since it was read")
)
