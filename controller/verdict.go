package controller

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/controller/sla"
	"github.com/nines-sre/nines/model"
)

// latest keeps the newest result of every check in every region. The
// results it hands out are shared and never modified: a newer one replaces
// the pointer.
type latest struct {
	mu sync.RWMutex
	m  map[string]map[string]*model.Result // check → region → result
	// seq holds, per check, the value of changes when one of its regions
	// last had a newer result.
	seq map[string]uint64
	// changes counts the results that became a region's newest; flips
	// those of them that said something else than the one they replaced.
	changes, flips atomic.Uint64
}

func newLatest() *latest {
	return &latest{m: map[string]map[string]*model.Result{}, seq: map[string]uint64{}}
}

// changedSince returns the checks with a newer result since changes was
// at since, and changes now.
func (l *latest) changedSince(since uint64) (map[string]bool, uint64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := map[string]bool{}
	for check, n := range l.seq {
		if n > since {
			out[check] = true
		}
	}
	return out, l.changes.Load()
}

// offer records r when it is newer than what is known.
func (l *latest) offer(r model.Result) {
	l.mu.Lock()
	defer l.mu.Unlock()
	byRegion := l.m[r.Check]
	if byRegion == nil {
		byRegion = map[string]*model.Result{}
		l.m[r.Check] = byRegion
	}
	if cur, ok := byRegion[r.Region]; !ok || r.Scheduled.After(cur.Scheduled) {
		if !ok || cur.Outcome != r.Outcome || cur.ProbeIsolated != r.ProbeIsolated {
			l.flips.Add(1)
		}
		r.Started = r.Started.UTC()
		byRegion[r.Region] = &r
		l.seq[r.Check] = l.changes.Add(1)
	}
}

// regions returns the newest result of check by region; the map is shared
// and must only be read under l.mu's read lock, which fn runs under.
func (l *latest) regions(check string, fn func(map[string]*model.Result)) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	fn(l.m[check])
}

// RegionView is one region's view of a check.
type RegionView struct {
	Status  model.Status
	Healthy bool
	Result  *model.Result
	// Stale is set when the region's edge serves content that differs from
	// what most regions are served.
	Stale bool
	// ProbeProblem is set when the region's newest result says nothing of
	// the target: the probe was cut off when it failed, or the region's
	// probes were not heard from when it was scheduled.
	ProbeProblem bool
}

// Verdict is the confirmed state of one check.
type Verdict struct {
	Status  model.Status
	Reason  string
	Failing int
	Healthy int
	Regions map[string]RegionView
	// StaleRegions lists regions whose CDN edge serves other content.
	StaleRegions []string
}

// verdict confirms the state of ch at now by the quorum rule (sla.Judge)
// over each region's newest result: healthy says which regions' probes are
// heard from now, healthyAt whether a region was healthy when a result was
// scheduled. A check under maintenance is in maintenance, whatever its
// results.
func verdict(cfg *config.Config, ch *config.Check, l *latest, healthy map[string]bool, now time.Time, healthyAt sla.HealthyAt) Verdict {
	regions := cfg.CheckRegions(ch)
	v := Verdict{Regions: make(map[string]RegionView, len(regions))}
	var count sla.Counter
	staleAt := ch.Fresh()
	l.regions(ch.ID, func(results map[string]*model.Result) {
		for _, region := range regions {
			rv := RegionView{Status: model.StatusUnknown, Healthy: healthy[region]}
			if r, ok := results[region]; ok {
				rv.Result = r
				// The region must be heard from now, and must have been when
				// the result was scheduled (asked only when it matters).
				rv.ProbeProblem = r.ProbeIsolated || (rv.Healthy && healthyAt != nil && !healthyAt(r.Region, r.Scheduled))
				if sla.Speaks(r.Scheduled, rv.ProbeProblem, now, staleAt, rv.Healthy) {
					rv.Status = model.Status(r.Outcome)
					var hash, version string
					if r.Edge != nil {
						hash, version = r.Edge.ContentHash, r.Edge.Version
					}
					count.Add(region, r.Outcome, hash, version)
				}
			}
			if rv.Healthy {
				v.Healthy++
			}
			v.Regions[region] = rv
		}
	})
	tally, stale := count.Tally()
	v.StaleRegions = stale
	for _, region := range stale {
		rv := v.Regions[region]
		rv.Stale = true
		v.Regions[region] = rv
	}
	v.Failing = tally.Failing
	v.Status, v.Reason = sla.Judge(tally, cfg.CheckQuorum(ch))
	if v.Reason == sla.ReasonStale {
		v.Reason = "stale edge: " + strings.Join(stale, ", ") + " served other content than most regions"
	}
	if cfg.InMaintenance(ch.ID, now) {
		v.Status, v.Reason = model.StatusMaintenance, "in a maintenance window"
	}
	return v
}

// verdictNow is the verdict of one check at now, with region health as the
// registry sees it.
func (c *Controller) verdictNow(cfg *config.Config, ch *config.Check, now time.Time) Verdict {
	return verdict(cfg, ch, c.latest, c.probes.HealthyRegions(now, cfg.UnhealthyAfter()), now, c.healthyAt(cfg))
}

// healthyAt tells from the registry's history whether a region's probes
// were heard from at a time.
func (c *Controller) healthyAt(cfg *config.Config) sla.HealthyAt { return c.probes.HealthyAtFor(cfg) }

// worst combines statuses for a component: down, then degraded, then up,
// then maintenance; unknown only when nothing is known.
func worst(statuses []model.Status) model.Status {
	rank := map[model.Status]int{model.StatusUnknown: 0, model.StatusMaintenance: 1, model.StatusUp: 2, model.StatusDegraded: 3, model.StatusDown: 4}
	out := model.StatusUnknown
	for _, s := range statuses {
		if rank[s] > rank[out] {
			out = s
		}
	}
	return out
}
