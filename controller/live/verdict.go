// Package live holds the live verdicts: the newest result of every check
// in every region, the quorum verdict over them, and the status document
// built from those verdicts.
package live

import (
	"strings"
	"time"

	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/controller/fleet"
	"github.com/nines-sre/nines/controller/sla"
	"github.com/nines-sre/nines/model"
)

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

// Judge confirms the state of ch at now by the quorum rule (sla.Judge)
// over each region's newest result: healthy says which regions' probes are
// heard from now, healthyAt whether a region was healthy when a result was
// scheduled. A check under maintenance is in maintenance, whatever its
// results.
func Judge(cfg *config.Config, ch *config.Check, l *Latest, healthy map[string]bool, now time.Time, healthyAt sla.HealthyAt) Verdict {
	regions := cfg.CheckRegions(ch)
	v := Verdict{Regions: make(map[string]RegionView, len(regions))}
	var count sla.Counter
	staleAt := ch.Fresh()
	l.Regions(ch.ID, func(results map[string]*model.Result) {
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
	if rv := v.Regions[model.PushRegion]; ch.Heartbeat != nil && v.Status == model.StatusDown && rv.Result != nil {
		v.Reason = rv.Result.Message // late, or the job's own words on /fail
	}
	if cfg.InMaintenance(ch.ID, now) {
		v.Status, v.Reason = model.StatusMaintenance, "in a maintenance window"
	}
	return v
}

// View is the live state: the newest results and the probe registry.
type View struct {
	Latest *Latest
	Probes *fleet.Registry
}

// Verdict is the verdict of one check at now, with region health as the
// registry sees it.
func (v View) Verdict(cfg *config.Config, ch *config.Check, now time.Time) Verdict {
	return Judge(cfg, ch, v.Latest, v.Probes.HealthyRegions(now, cfg.UnhealthyAfter()), now, v.Probes.HealthyAtFor(cfg))
}

// Worst combines statuses for a component: down, then degraded, then up,
// then maintenance; unknown only when nothing is known.
func Worst(statuses []model.Status) model.Status {
	rank := map[model.Status]int{model.StatusUnknown: 0, model.StatusMaintenance: 1, model.StatusUp: 2, model.StatusDegraded: 3, model.StatusDown: 4}
	out := model.StatusUnknown
	for _, s := range statuses {
		if rank[s] > rank[out] {
			out = s
		}
	}
	return out
}
