package alerting

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
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
	Alert(ctx context.Context, key string) (*Alert, error)
	SaveAlert(ctx context.Context, a *Alert, notes []Notification, at time.Time) error
	DueNotifications(ctx context.Context, now time.Time, perLane, limit int) ([]Notification, error)
	RecordAttempt(ctx context.Context, n *Notification, a Attempt) error
}

// Engine runs the lifecycle of every alert.
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
}

// NewEngine returns an engine over store; source names this controller in
// notifications.
func NewEngine(store Store, log *slog.Logger, source string) *Engine {
	return &Engine{store: store, log: log, source: source}
}

// Tick evaluates the rules against a snapshot and moves every alert along
// its lifecycle: conditions that hold start or keep alerts, `for` turns
// pending into firing, unacknowledged alerts climb their policy, and
// alerts whose condition stayed gone for resolve_after resolve.
func (e *Engine) Tick(ctx context.Context, set Setup, s Snapshot) error {
	al := set.Alerting
	open, err := e.store.OpenAlerts(ctx)
	if err != nil {
		return err
	}
	byKey := map[string]*Alert{}
	s.Open = make(map[string]bool, len(open))
	for i := range open {
		byKey[open[i].Key] = &open[i]
		s.Open[open[i].Key] = true
	}
	conds := Evaluate(set, s)
	now := s.Now
	// An alert changed meanwhile (ErrConflict: acknowledged through the API,
	// say) is left for the next tick, which reads it afresh.
	for k, c := range conds {
		a := byKey[k]
		if a == nil {
			a = &Alert{Key: k, Rule: c.Rule.ID, Subject: c.Subject, State: StatePending, PendingSince: now}
			if prev, err := e.store.Alert(ctx, k); err != nil {
				return err
			} else if prev != nil {
				a.Incident, a.Revision = prev.Incident, prev.Revision
			}
		}
		if err := e.hold(ctx, al, a, c, now); err != nil && !errors.Is(err, ErrConflict) {
			return err
		}
	}
	for k, a := range byKey {
		if _, holds := conds[k]; holds {
			continue
		}
		if err := e.gone(ctx, al, a, now); err != nil && !errors.Is(err, ErrConflict) {
			return err
		}
	}
	return nil
}

func (e *Engine) hold(ctx context.Context, al *config.Alerting, a *Alert, c Condition, now time.Time) error {
	changed := a.GoodSince != nil || a.Summary != c.Summary || a.Severity != c.Severity
	a.GoodSince = nil
	a.Severity, a.Urgency, a.Policy, a.Summary, a.Component, a.Class, a.Details = c.Severity, c.Urgency, c.Policy, c.Summary, c.Component, c.Class, c.Details
	var notes []Notification
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
		a.Level, a.Round, a.Notified = 0, 0, nil
		notes = e.escalateTo(al, a, 0, now)
		e.log.Warn("alert firing", "key", a.Key, "incident", a.Incident, "severity", a.Severity, "summary", a.Summary)
	case StateFiring:
		due, err := e.escalationDue(ctx, a, now)
		if err != nil {
			return err
		}
		if due {
			notes = e.climb(al, a, now)
		} else if !changed {
			return nil
		}
	case StateAcknowledged:
		if !changed {
			return nil
		}
	}
	return e.save(ctx, a, notes, now)
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
	return Notification{Notifier: notifier, CreatedAt: now, NextAt: now, Message: Message{
		AlertKey: a.Key, Incident: a.Incident, Action: action, Severity: a.Severity, Urgency: a.Urgency, Summary: a.Summary,
		Source: e.source, Component: a.Component, Group: a.Rule, Class: a.Class, Details: a.Details, Link: link, Level: a.Level, At: now,
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
	if a.GoodSince == nil {
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
