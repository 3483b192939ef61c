package pages

import (
	"context"
	"slices"
	"sync"

	"github.com/nines-sre/nines/controller/store"
	"github.com/nines-sre/nines/dashboard"
)

// An incident update records the components it touched as they were at
// that update (Statuspage's affected_components): each one's status
// before, which is what the incident's previous update said of it (or,
// at the first, the status the component had before the outage), and its
// status as published at the update.

// componentStatuses are the components' statuses as published now, in
// Statuspage's words.
func (s *Source) componentStatuses(ctx context.Context) (map[string]string, error) {
	st, err := s.o.Published(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(st.Components))
	for i := range st.Components {
		comp := &st.Components[i]
		status := publishedStatus(comp)
		if status == dashboard.NoData {
			status = dashboard.Operational
		}
		out[comp.ID] = status
	}
	s.before.saw(out)
	return out, nil
}

// before remembers, per component, the status it had before its current
// one, for the first update of an incident opened after it changed.
type before struct {
	mu        sync.Mutex
	cur, prev map[string]string
}

func (b *before) saw(now map[string]string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cur == nil {
		b.cur, b.prev = map[string]string{}, map[string]string{}
	}
	for id, st := range now {
		if cur, ok := b.cur[id]; ok && cur != st {
			b.prev[id] = cur
		}
		b.cur[id] = st
	}
}

// of is the status component had before its current one (operational
// when nothing else is known).
func (b *before) of(component string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if st, ok := b.prev[component]; ok {
		return st
	}
	return dashboard.Operational
}

// affected lists components as an update of an incident touches them at
// this moment: the status its previous updates last gave each (for a new
// incident, the status before the current one) and the current one.
func (s *Source) affected(components []string, in *store.Incident, current map[string]string) []store.ComponentChange {
	var out []store.ComponentChange
	for _, id := range components {
		if id == "" {
			continue
		}
		now, ok := current[id]
		if !ok {
			continue
		}
		old, found := "", false
		if in != nil {
			for _, u := range in.Updates { // newest first
				if k := slices.IndexFunc(u.Affected, func(c store.ComponentChange) bool { return c.Component == id }); k >= 0 {
					old, found = u.Affected[k].New, true
					break
				}
			}
		}
		if !found {
			old = s.before.of(id)
			if old == now {
				old = dashboard.Operational
			}
		}
		out = append(out, store.ComponentChange{Component: id, Old: old, New: now})
	}
	return out
}
