package controller

import (
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/nines-sre/nines/controller/config"
	"github.com/nines-sre/nines/model"
)

// latest keeps the newest result of every check in every region. The
// results it hands out are shared and never modified: a newer one replaces
// the pointer.
type latest struct {
	mu sync.RWMutex
	m  map[string]map[string]*model.Result // check → region → result
}

func newLatest() *latest { return &latest{m: map[string]map[string]*model.Result{}} }

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
		r.Started = r.Started.UTC()
		byRegion[r.Region] = &r
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

// period is the time between two runs of a check.
func period(ch *config.Check) time.Duration {
	if ch.Cron != "" {
		if s, err := cron.ParseStandard(ch.Cron); err == nil {
			t := s.Next(time.Unix(0, 0).UTC())
			return s.Next(t).Sub(t)
		}
	}
	return ch.Interval.D()
}

// staleAfter is how old a region's newest result may be and still count.
func staleAfter(ch *config.Check) time.Duration {
	return 2*period(ch) + ch.Timeout.D() + 5*time.Second
}

// verdict confirms the state of ch by quorum across healthy regions:
// down when at least quorum healthy regions fail; degraded when some, but
// fewer, fail; unknown when fewer than quorum healthy regions reported.
func verdict(cfg *config.Config, ch *config.Check, l *latest, healthy map[string]bool, now time.Time) Verdict {
	regions := cfg.CheckRegions(ch)
	v := Verdict{Regions: make(map[string]RegionView, len(regions))}
	reported, degraded := 0, 0
	staleAt := staleAfter(ch)
	l.regions(ch.ID, func(results map[string]*model.Result) {
		for _, region := range regions {
			rv := RegionView{Status: model.StatusUnknown, Healthy: healthy[region]}
			if r, ok := results[region]; ok {
				rv.Result = r
				fresh := now.Sub(r.Scheduled) <= staleAt
				if rv.Healthy && fresh {
					reported++
					rv.Status = model.Status(r.Outcome)
					switch r.Outcome {
					case model.OutcomeDown:
						v.Failing++
					case model.OutcomeDegraded:
						degraded++
					}
				}
			}
			if rv.Healthy {
				v.Healthy++
			}
			v.Regions[region] = rv
		}
	})
	v.StaleRegions = staleEdges(v.Regions)
	q := cfg.CheckQuorum(ch)
	switch {
	case v.Failing >= q:
		v.Status, v.Reason = model.StatusDown, "confirmed down by quorum"
	case reported < q:
		v.Status, v.Reason = model.StatusUnknown, "too few healthy regions reported"
	case v.Failing > 0:
		v.Status, v.Reason = model.StatusDegraded, "failing in fewer regions than the quorum"
	case degraded > 0:
		v.Status, v.Reason = model.StatusDegraded, "served worse than it should in some regions"
	case len(v.StaleRegions) > 0:
		v.Status, v.Reason = model.StatusDegraded, "stale edge: "+strings.Join(v.StaleRegions, ", ")+" served other content than most regions"
	default:
		v.Status = model.StatusUp
	}
	return v
}

// staleEdges compares the content hash each fresh, healthy region was served
// and marks the regions that differ from the most common one. With a tie the
// content of the highest version wins, so an edge behind a publish is the
// one called stale.
func staleEdges(regions map[string]RegionView) []string {
	type seen struct {
		n       int
		version string
	}
	counts := map[string]*seen{}
	for _, rv := range regions {
		if rv.Status == model.StatusUnknown || rv.Result == nil || rv.Result.Edge == nil || rv.Result.Edge.ContentHash == "" {
			continue
		}
		e := rv.Result.Edge
		if counts[e.ContentHash] == nil {
			counts[e.ContentHash] = &seen{version: e.Version}
		}
		counts[e.ContentHash].n++
	}
	if len(counts) < 2 {
		return nil
	}
	best, bestSeen := "", &seen{}
	for h, c := range counts {
		if c.n > bestSeen.n || (c.n == bestSeen.n && (versionLess(bestSeen.version, c.version) || (c.version == bestSeen.version && h > best))) {
			best, bestSeen = h, c
		}
	}
	var stale []string
	for region, rv := range regions {
		if rv.Status == model.StatusUnknown || rv.Result == nil || rv.Result.Edge == nil || rv.Result.Edge.ContentHash == "" {
			continue
		}
		if rv.Result.Edge.ContentHash != best {
			rv.Stale = true
			regions[region] = rv
			stale = append(stale, region)
		}
	}
	sort.Strings(stale)
	return stale
}

// versionLess orders versions numerically when both are numbers.
func versionLess(a, b string) bool {
	x, errA := strconv.ParseFloat(strings.TrimPrefix(a, "v"), 64)
	y, errB := strconv.ParseFloat(strings.TrimPrefix(b, "v"), 64)
	if errA == nil && errB == nil {
		return x < y
	}
	return a < b
}

// verdictNow is the verdict of one check at now, with region health as the
// registry sees it.
func (c *Controller) verdictNow(cfg *config.Config, ch *config.Check, now time.Time) Verdict {
	return verdict(cfg, ch, c.latest, c.probes.healthyRegions(now, cfg.UnhealthyAfter()), now)
}

// worst combines statuses for a component: down, then degraded, then up;
// unknown only when nothing is known.
func worst(statuses []model.Status) model.Status {
	rank := map[model.Status]int{model.StatusUnknown: 0, model.StatusUp: 1, model.StatusDegraded: 2, model.StatusDown: 3}
	out := model.StatusUnknown
	for _, s := range statuses {
		if rank[s] > rank[out] {
			out = s
		}
	}
	return out
}
