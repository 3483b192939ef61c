package controller

import (
	"sort"
	"sync"
	"time"

	"github.com/nines-sre/nines/controller/store"
	"github.com/nines-sre/nines/model"
)

// probeState is what the controller knows of one probe agent.
type probeState struct {
	ID            string
	Region        string
	Version       string
	StartedAt     time.Time
	RegisteredAt  time.Time
	LastHeartbeat time.Time
	SpoolDepth    int
	ClockSkew     time.Duration
}

// registry tracks probes by their heartbeats. A probe that missed the
// configured number of heartbeats is unhealthy; a region without a healthy
// probe is unhealthy, and its silence is a probe problem, not downtime.
type registry struct {
	mu     sync.Mutex
	probes map[string]*probeState
}

func newRegistry() *registry { return &registry{probes: map[string]*probeState{}} }

func (g *registry) heartbeat(hb model.Heartbeat, now time.Time, skew time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.probes[hb.Probe]
	if p == nil || p.Region != hb.Region || !p.StartedAt.Equal(hb.StartedAt) {
		p = &probeState{ID: hb.Probe, Region: hb.Region, RegisteredAt: now}
		g.probes[hb.Probe] = p
	}
	p.Version = hb.Version
	p.StartedAt = hb.StartedAt
	p.LastHeartbeat = now
	p.SpoolDepth = hb.SpoolDepth
	p.ClockSkew = skew
}

// merge takes in a heartbeat that another replica received, unless this
// one heard from the probe since.
func (g *registry) merge(hb store.Probe) {
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.probes[hb.ID]
	if p != nil && !hb.LastHeartbeat.After(p.LastHeartbeat) {
		return
	}
	if p == nil || p.Region != hb.Region || !p.StartedAt.Equal(hb.StartedAt) {
		p = &probeState{ID: hb.ID, Region: hb.Region, RegisteredAt: hb.LastHeartbeat}
		g.probes[hb.ID] = p
	}
	p.Version, p.StartedAt, p.LastHeartbeat, p.SpoolDepth, p.ClockSkew = hb.Version, hb.StartedAt, hb.LastHeartbeat, hb.SpoolDepth, hb.ClockSkew
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
