package push

import (
	"context"
	"errors"

	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/controller/sla"
	"github.com/nines-sre/nines/model"
)

// CountStore is where pushed SLI counts go.
type CountStore interface {
	PutSLOEvents(ctx context.Context, slo string, counts map[sla.Minute]sla.Events) error
}

// ErrBadCounts is what is wrong with pushed counts: errors.Is matches it,
// and its message names the entry and the field.
var ErrBadCounts = errors.New("bad counts")

// refused is what is wrong with what was pushed: its message is err's
// alone, naming the field, and errors.Is matches kind (ErrBadCounts,
// ErrBadEvent).
type refused struct{ kind, err error }

func (r refused) Error() string        { return r.err.Error() }
func (r refused) Is(target error) bool { return target == r.kind }

// Counts takes the good and valid events per minute of an events SLO
// whose source is push, with its key: each minute's replace what it had,
// so that a push sent again (a retry) counts once. It returns how many
// minutes were stored. ErrNotFound answers an unknown SLO, another source
// and a wrong key alike; ErrTooMany, pushes past the SLO's rate.
func (p *Push) Counts(ctx context.Context, slo, key string, counts *model.EventCounts) (int, error) {
	s := p.o.Config().SLO(slo)
	if s == nil || s.SLI != config.SLIEvents || s.Events == nil || s.Events.Push == nil || !s.Events.Push.KeyMatches(key) {
		return 0, ErrNotFound
	}
	if !p.allow("slo:" + slo) {
		return 0, ErrTooMany
	}
	if err := counts.Validate(p.o.Now()); err != nil {
		return 0, refused{ErrBadCounts, err}
	}
	m := make(map[sla.Minute]sla.Events, len(counts.Counts))
	for _, c := range counts.Counts {
		m[sla.MinuteOf(c.Minute)] = sla.Events{Good: int(c.Good), Total: int(c.Valid)}
	}
	if err := p.o.Counts.PutSLOEvents(ctx, slo, m); err != nil {
		return 0, err
	}
	return len(m), nil
}
