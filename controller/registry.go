package controller

import (
	"sort"
	"sync"
	"time"

	"github.com/nines-sre/nines/controller/store"
)

// probeState is what the controller knows of one probe agent: its last
// heartbeat, and since when it runs as it does now.
type probeState struct {
	store.Probe
	RegisteredAt time.Time
}

// registry tracks probes by their heartbeats. A probe that missed the
// configured number of heartbeats is unhealthy; a region without a healthy
// probe is unhealthy, and its silence is a probe problem, not downtime.
type registry struct {
	mu     sync.Mutex
	probes map[string]*probeState
}

func newRegistry() *registry { return &registry{probes: map[string]*probeState{}} }

// heartbeat records a heartbeat this controller received.
func (g *registry) heartbeat(hb store.Probe) { g.put(hb, false) }

// merge takes in a heartbeat that another replica received (or that the
// store kept), unless this one heard from the probe since.
func (g *registry) merge(hb store.Probe) { g.put(hb, true) }

func (g *registry) put(hb store.Probe, onlyNewer bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.probes[hb.ID]
	if onlyNewer && p != nil && !hb.LastHeartbeat.After(p.LastHeartbeat) {
		return
	}
	if p == nil || p.Region != hb.Region || !p.StartedAt.Equal(hb.StartedAt) {
		// New, or restarted: registered anew.
		p = &probeState{RegisteredAt: hb.LastHeartbeat}
		g.probes[hb.ID] = p
	}
	p.Probe = hb
}

// snapshot returns every probe, sorted by region then id.
func (g *registry) snapshot() []probeState {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]probeState, 0, len(g.probes))
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

// healthyRegions returns the regions with at least one probe heard from
// within unhealthyAfter.
func (g *registry) healthyRegions(now time.Time, unhealthyAfter time.Duration) map[string]bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := map[string]bool{}
	for _, p := range g.probes {
		if now.Sub(p.LastHeartbeat) <= unhealthyAfter {
			out[p.Region] = true
		}
	}
	return out
}

// live returns the sorted ids of region's probes heard from within d.
func (g *registry) live(region string, now time.Time, d time.Duration) []string {
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

// forget removes a probe of region.
func (g *registry) forget(id, region string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if p := g.probes[id]; p != nil && p.Region == region {
		delete(g.probes, id)
	}
}
