package probe

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/nines-sre/nines/model"
)

// While no controller answers, the controller hears no heartbeats: left
// alone it would take this probe's region for unhealthy all that time,
// and every result the probe kept meanwhile for a probe problem. So after
// each heartbeat no controller answered, the probe notes when a target
// last answered it (its own network worked then), merges the notes into
// spans, keeps them in the spool, and sends them with the first heartbeat
// a controller answers again (model.Heartbeat.Attested), before the
// results it kept. A failure seen while nothing answered is marked as
// the probe's own (reach.go) whatever the spans say.

// attestKey is where the spool keeps the spans not yet sent.
const attestKey = "attested"

// attestJoin is the longest time between two notes that one span covers:
// the heartbeat's backoff may space attempts a minute apart.
const attestJoin = 5 * time.Minute

// attestations are the spans not yet sent.
type attestations struct {
	mu    sync.Mutex
	spans []model.Span
}

// load reads the spans a previous run of the probe kept.
func (a *attestations) load(ctx context.Context, s *Spool) error {
	var spans []model.Span
	if err := s.getMeta(ctx, attestKey, &spans); err != nil && !errors.Is(err, errNoValue) {
		return err
	}
	a.mu.Lock()
	a.spans = spans
	a.mu.Unlock()
	return nil
}

// note records that this probe's network was seen working at seen, and
// keeps the spans in the spool.
func (a *attestations) note(ctx context.Context, s *Spool, seen time.Time) error {
	if seen.IsZero() {
		return nil
	}
	seen = seen.UTC()
	a.mu.Lock()
	n := len(a.spans)
	switch {
	case n > 0 && !seen.After(a.spans[n-1].To):
		a.mu.Unlock()
		return nil // nothing newer
	case n > 0 && seen.Sub(a.spans[n-1].To) <= attestJoin:
		a.spans[n-1].To = seen
	default:
		a.spans = append(a.spans, model.Span{From: seen, To: seen})
		if len(a.spans) > model.MaxAttested {
			a.spans = slices.Delete(a.spans, 0, len(a.spans)-model.MaxAttested)
		}
	}
	spans := slices.Clone(a.spans)
	a.mu.Unlock()
	return s.setMeta(ctx, attestKey, spans)
}

// pending returns the spans to send.
func (a *attestations) pending() []model.Span {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.spans)
}

// sent forgets the spans a controller took (a prefix of what is kept: a
// span may have grown since, and is then sent again whole).
func (a *attestations) sent(ctx context.Context, s *Spool, took []model.Span) error {
	if len(took) == 0 {
		return nil
	}
	a.mu.Lock()
	k := 0
	for k < len(took) && k < len(a.spans) && a.spans[k] == took[k] {
		k++
	}
	a.spans = a.spans[k:]
	spans := slices.Clone(a.spans)
	a.mu.Unlock()
	return s.setMeta(ctx, attestKey, spans)
}
