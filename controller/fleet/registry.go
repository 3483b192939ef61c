// Package fleet knows the probe agents: which are alive in each region, the
// history of each region's health, and which probe runs which check.
package fleet

import (
	"hash/maphash"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/controller/sla"
	"github.com/nines-sre/nines/controller/store"
	"github.com/nines-sre/nines/model"
)

// ProbeState is what the controller knows of one probe agent: its last
// heartbeat, and since when it runs as it does now.
type ProbeState struct {
	store.Probe
	RegisteredAt time.Time
}

// Registry tracks probes by their heartbeats. A probe that missed the
// configured number of heartbeats is unhealthy; a region without a healthy
// probe is unhealthy, and its silence is a probe problem, not downtime.
//
// It also keeps each region's health as history: spans of heartbeats no
// further apart than the unhealthy threshold. A result is judged by the
// health of its region when it was scheduled, so the failures a cut-off
// probe spooled and shipped after the heal say nothing of the target.
type Registry struct {
	mu     sync.RWMutex
	probes map[string]*ProbeState
	spans  map[string][]store.HealthSpan // region → spans, by start
	// tenure outlives a probe's deregistration: a probe that restarts
	// keeps its seniority (see Assignment).
	tenure map[string]tenure
}

// tenure is since when a probe id has been heard from in its region, and
// when last.
type tenure struct {
	region      string
	first, last time.Time
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{probes: map[string]*ProbeState{}, spans: map[string][]store.HealthSpan{}, tenure: map[string]tenure{}}
}

// Heartbeat records a heartbeat this controller received; it returns the
// region's health span that the heartbeat widened or opened, to be stored.
func (g *Registry) Heartbeat(hb store.Probe, gap time.Duration) (store.HealthSpan, bool) {
	return g.put(hb, false, gap)
}

// Merge takes in a heartbeat that another replica received (or that the
// store kept), unless this one heard from the probe since.
func (g *Registry) Merge(hb store.Probe, gap time.Duration) { g.put(hb, true, gap) }

func (g *Registry) put(hb store.Probe, onlyNewer bool, gap time.Duration) (store.HealthSpan, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	hb.FirstSeen = g.seen(hb)
	p := g.probes[hb.ID]
	if onlyNewer && p != nil && !hb.LastHeartbeat.After(p.LastHeartbeat) {
		return store.HealthSpan{}, false
	}
	if p == nil || p.Region != hb.Region || !p.StartedAt.Equal(hb.StartedAt) {
		// New, or restarted: registered anew.
		p = &ProbeState{RegisteredAt: hb.LastHeartbeat}
		g.probes[hb.ID] = p
	}
	p.Probe = hb
	return g.widen(hb, gap)
}

// seen records hb in its probe's tenure, the earliest first sighting any
// replica knows of winning; it returns the probe's first sighting. g.mu is
// held.
func (g *Registry) seen(hb store.Probe) time.Time {
	t := g.tenure[hb.ID]
	if t.region != hb.Region {
		t = tenure{region: hb.Region} // a probe moved to another region starts anew
	}
	if first := hb.Tenure(); t.first.IsZero() || first.Before(t.first) {
		t.first = first
	}
	t.last = sla.Latest(t.last, hb.LastHeartbeat)
	g.tenure[hb.ID] = t
	return t.first
}

// widen extends the region's newest health span to hb, or opens a new one
// when hb comes after a silence longer than gap. A new span starts at the
// probe's own start when that was less than gap before (with startSlack for
// its clock), so the results a starting probe runs before its first
// heartbeat arrives count.
func (g *Registry) widen(hb store.Probe, gap time.Duration) (store.HealthSpan, bool) {
	spans := g.spans[hb.Region]
	at := hb.LastHeartbeat
	if n := len(spans); n > 0 {
		last := &spans[n-1]
		if !at.After(last.To) {
			return store.HealthSpan{}, false
		}
		if at.Sub(last.To) <= gap {
			last.To = at
			return *last, true
		}
	}
	from := at
	if at.Sub(hb.StartedAt) <= gap {
		// The probe's clock, not ours: allow it a little skew.
		from = sla.Earliest(at, hb.StartedAt).Add(-startSlack)
		if n := len(spans); n > 0 && !from.After(spans[n-1].To) {
			from = spans[n-1].To.Add(time.Millisecond)
		}
	}
	span := store.HealthSpan{Region: hb.Region, From: from, To: at}
	g.spans[hb.Region] = append(spans, span)
	return span, true
}

// Attest takes in spans of region's health that a probe vouches for: when
// no controller heard it, its own network was seen working (a target
// answered it). Each is merged into the region's history; the spans the
// history gained or grew are returned, to be stored.
func (g *Registry) Attest(region string, attested []store.HealthSpan) []store.HealthSpan {
	g.mu.Lock()
	defer g.mu.Unlock()
	var changed []store.HealthSpan
	for _, a := range attested {
		a.Region = region
		if merged, ok := g.merge(a); ok {
			changed = append(changed, merged)
		}
	}
	return changed
}

// merge puts span a into its region's history, merged with the spans it
// overlaps; it returns the span a became part of, and whether the history
// changed. g.mu is held.
func (g *Registry) merge(a store.HealthSpan) (store.HealthSpan, bool) {
	spans := g.spans[a.Region]
	i := sort.Search(len(spans), func(i int) bool { return !spans[i].To.Before(a.From) })
	j := i
	merged := a
	for j < len(spans) && !spans[j].From.After(a.To) {
		merged.From, merged.To = sla.Earliest(merged.From, spans[j].From), sla.Latest(merged.To, spans[j].To)
		j++
	}
	if j == i+1 && merged == spans[i] {
		return merged, false // known already
	}
	g.spans[a.Region] = slices.Concat(spans[:i], []store.HealthSpan{merged}, spans[j:])
	return merged, true
}

// LoadHealth takes in stored health spans: at start, and from other
// replicas (overlapping spans merge).
func (g *Registry) LoadHealth(spans []store.HealthSpan) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, s := range spans {
		g.merge(s)
	}
}

// startSlack is how far before a starting probe's reported start its
// region counts as healthy, for the difference between its clock and ours.
const startSlack = 5 * time.Second

// HealthyAt reports whether region's probes were heard from at t: a span
// began at or before t and its last heartbeat was no more than gap before.
func (g *Registry) HealthyAt(region string, t time.Time, gap time.Duration) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	spans := g.spans[region]
	i := sort.Search(len(spans), func(i int) bool { return spans[i].From.After(t) }) - 1
	return i >= 0 && !t.After(spans[i].To.Add(gap))
}

// HealthyAtFor is HealthyAt with the unhealthy threshold of cfg.
func (g *Registry) HealthyAtFor(cfg *config.Config) sla.HealthyAt {
	gap := cfg.UnhealthyAfter()
	return func(region string, t time.Time) bool {
		return region == model.PushRegion || g.HealthyAt(region, t, gap)
	}
}

// PruneHealth forgets the spans that ended before before.
func (g *Registry) PruneHealth(before time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for region, spans := range g.spans {
		i := sort.Search(len(spans), func(i int) bool { return !spans[i].To.Before(before) })
		g.spans[region] = spans[i:]
	}
}

// Snapshot returns every probe, sorted by region then id.
func (g *Registry) Snapshot() []ProbeState {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]ProbeState, 0, len(g.probes))
	for _, p := range g.probes {
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Region != out[j].Region {
			return out[i].Region < out[j].Region
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// HealthyRegions returns the regions with at least one probe heard from
// within unhealthyAfter, and the push region (heartbeat checks), which the
// controller hears itself.
func (g *Registry) HealthyRegions(now time.Time, unhealthyAfter time.Duration) map[string]bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := map[string]bool{model.PushRegion: true}
	for _, p := range g.probes {
		if now.Sub(p.LastHeartbeat) <= unhealthyAfter {
			out[p.Region] = true
		}
	}
	return out
}

// HealthSignature changes whenever the set of healthy regions does (the
// push region aside); it costs no allocation, for a check on every read
// of a published document.
func (g *Registry) HealthSignature(now time.Time, unhealthyAfter time.Duration) uint64 {
	g.mu.RLock()
	defer g.mu.RUnlock()
	var seen [64]string
	n, sig := 0, uint64(0)
	for _, p := range g.probes {
		if now.Sub(p.LastHeartbeat) > unhealthyAfter || slices.Contains(seen[:n], p.Region) {
			continue
		}
		if n < len(seen) {
			seen[n] = p.Region
			n++
		}
		sig += maphash.String(signatureSeed, p.Region)
	}
	return sig
}

// signatureSeed seeds HealthSignature's hashes (a signature is compared
// within the process only).
var signatureSeed = maphash.MakeSeed()

// Live returns the sorted ids of region's probes heard from within d.
func (g *Registry) Live(region string, now time.Time, d time.Duration) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var ids []string
	for _, p := range g.probes {
		if p.Region == region && now.Sub(p.LastHeartbeat) <= d {
			ids = append(ids, p.ID)
		}
	}
	sort.Strings(ids)
	return ids
}

// FirstSeen is when probe id was first heard from in its region (zero when
// it never was).
func (g *Registry) FirstSeen(id string) time.Time {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.tenure[id].first
}

// Forget removes a probe of region.
func (g *Registry) Forget(id, region string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if p := g.probes[id]; p != nil && p.Region == region {
		delete(g.probes, id)
	}
}

// Can reports whether probe id said it has capability.
func (g *Registry) Can(id, capability string) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	p := g.probes[id]
	return p != nil && slices.Contains(p.Capabilities, capability)
}

// StartedAt is when probe id of region says it started, if it is known.
func (g *Registry) StartedAt(id, region string) (time.Time, bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if p := g.probes[id]; p != nil && p.Region == region {
		return p.StartedAt, true
	}
	return time.Time{}, false
}

// Known reports whether probe id is registered in region.
func (g *Registry) Known(id, region string) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	p := g.probes[id]
	return p != nil && p.Region == region
}

// Count returns how many probes region has.
func (g *Registry) Count(region string) int {
	g.mu.RLock()
	defer g.mu.RUnlock()
	n := 0
	for _, p := range g.probes {
		if p.Region == region {
			n++
		}
	}
	return n
}

// DropSilent forgets, and returns, the probes not heard from since before.
func (g *Registry) DropSilent(before time.Time) []store.Probe {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []store.Probe
	for id, p := range g.probes {
		if p.LastHeartbeat.Before(before) {
			out = append(out, p.Probe)
			delete(g.probes, id)
		}
	}
	for id, t := range g.tenure {
		if t.last.Before(before) {
			delete(g.tenure, id)
		}
	}
	return out
}
