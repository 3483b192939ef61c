package push

import (
	"context"
	"errors"
	"time"

	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/model"
)

// EventStore is where the events of event rules go.
type EventStore interface {
	PutAlertEvent(ctx context.Context, rule string, e *model.AlertEvent, at time.Time) (bool, error)
}

// ErrBadEvent is what is wrong with an event: errors.Is matches it, and
// its message names the field.
var ErrBadEvent = errors.New("bad event")

// Event takes an event of an event rule with its key: a trigger opens
// or keeps the alert of e.Key, a resolve ends it. It reports whether
// anything changed (a resolve of a key not open changes nothing).
// ErrNotFound answers an unknown rule, another kind and a wrong key
// alike; ErrTooMany, events past the rule's rate.
func (p *Push) Event(ctx context.Context, rule, key string, e *model.AlertEvent) (bool, error) {
	r := p.rule(rule)
	if r == nil || !r.KeyMatches(key) {
		return false, ErrNotFound
	}
	if !p.allow("rule:" + rule) {
		return false, ErrTooMany
	}
	if err := e.Validate(); err != nil {
		return false, refused{ErrBadEvent, err}
	}
	changed, err := p.o.Events.PutAlertEvent(ctx, rule, e, p.o.Now())
	if err != nil {
		return false, err
	}
	if changed {
		p.o.Evented()
	}
	return changed, nil
}

// rule is the event rule with id, or nil.
func (p *Push) rule(id string) *config.Rule {
	rules := p.o.Config().Alerting.Rules
	for i := range rules {
		if rules[i].ID == id && rules[i].Kind == config.RuleEvent {
			return &rules[i]
		}
	}
	return nil
}
