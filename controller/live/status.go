package live

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/model"
)

// StatusResponse is the body of GET /api/v1/status.
type StatusResponse struct {
	GeneratedAt   time.Time         `json:"generated_at"`
	ConfigVersion string            `json:"config_version"`
	Config        ReloadStatus      `json:"config"`
	Status        model.Status      `json:"status"`
	Components    []ComponentStatus `json:"components"`
	Regions       []RegionStatus    `json:"regions"`
	Probes        []ProbeStatus     `json:"probes"`
	// NextCursor, on a page of the components (?limit=), asks for the next.
	NextCursor string `json:"next_cursor,omitempty"`
}

// ComponentStatus is one component and its checks.
type ComponentStatus struct {
	ID     string        `json:"id"`
	Name   string        `json:"name"`
	Status model.Status  `json:"status"`
	Checks []CheckStatus `json:"checks"`
}

// CheckStatus is one check's confirmed verdict and every region's view.
type CheckStatus struct {
	ID      string                       `json:"id"`
	Name    string                       `json:"name"`
	Kind    string                       `json:"kind"`
	Status  model.Status                 `json:"status"`
	Reason  string                       `json:"reason,omitempty"`
	Failing int                          `json:"failing_regions"`
	Quorum  int                          `json:"quorum"`
	Regions map[string]CheckRegionStatus `json:"regions"`
	// StaleRegions lists the regions whose CDN edge serves other content.
	StaleRegions []string `json:"stale_regions,omitempty"`
}

// CheckRegionStatus is one region's newest view of a check.
type CheckRegionStatus struct {
	Status       model.Status     `json:"status"`
	Healthy      bool             `json:"healthy"`
	LastResultAt *time.Time       `json:"last_result_at"`
	LatencyMS    *float64         `json:"latency_ms"`
	ErrorClass   model.ErrorClass `json:"error_class,omitempty"`
	Message      string           `json:"message,omitempty"`
	CertDaysLeft *int             `json:"cert_days_left,omitempty"`
	Edge         *model.Edge      `json:"edge,omitempty"`
	StaleEdge    bool             `json:"stale_edge,omitempty"`
	// ProbeProblem says the newest result speaks of the probe, not the
	// target: it was cut off when it failed, or its region was not heard
	// from when the result was scheduled.
	ProbeProblem bool `json:"probe_problem,omitempty"`
}

// RegionStatus says whether a region's probes are heard from.
type RegionStatus struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Healthy bool   `json:"healthy"`
	Probes  int    `json:"probes"`
}

// ProbeStatus is one probe agent as seen through its heartbeats.
type ProbeStatus struct {
	Region          string    `json:"region"`
	ProbeID         string    `json:"probe_id"`
	Healthy         bool      `json:"healthy"`
	LastHeartbeatAt time.Time `json:"last_heartbeat_at"`
	Version         string    `json:"version,omitempty"`
	StartedAt       time.Time `json:"started_at"`
	SpoolDepth      int       `json:"spool_depth"`
	ClockSkewMS     int64     `json:"clock_skew_ms"`
}

// Query is what a status document is asked for: the components and
// checks to keep (nil: all), and a page of the components (Limit from
// after Cursor).
type Query struct {
	Components, Checks map[string]bool
	Limit              int
	Cursor             string
	// Public leaves out the components not shown to the public
	// (public: false), as if they did not exist.
	Public bool
}

// maxLimit bounds a page of components.
const maxLimit = 1000

// ParseQuery reads a status query from URL parameters: component= and
// check= (repeated or comma-separated) keep those, limit= and cursor= page
// the components, view=compact asks for the verdicts alone.
func ParseQuery(params url.Values) (q Query, compact bool, _ *QueryError) {
	list := func(name string) map[string]bool {
		var m map[string]bool
		for _, v := range params[name] {
			for _, id := range strings.Split(v, ",") {
				if id = strings.TrimSpace(id); id != "" {
					if m == nil {
						m = map[string]bool{}
					}
					m[id] = true
				}
			}
		}
		return m
	}
	q.Components, q.Checks = list("component"), list("check")
	switch v := params.Get("view"); v {
	case "", "full":
	case "compact":
		compact = true
	default:
		return q, false, &QueryError{Field: "view", Msg: fmt.Sprintf("%q is not a view: full or compact", v)}
	}
	if v := params.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			return q, false, &QueryError{Field: "limit", Msg: fmt.Sprintf("%q is not a number of components from 1 to %d", v, maxLimit)}
		}
		q.Limit = n
	}
	q.Cursor = params.Get("cursor")
	return q, compact, nil
}

// Whole says the query asks for the whole document.
func (q Query) Whole() bool {
	return q.Components == nil && q.Checks == nil && q.Limit == 0 && q.Cursor == ""
}

// BannerStatus is what a component's status says of the whole: as it is,
// or with banner: degraded a down component is degraded at worst, and
// with banner: none it is up when down or degraded.
func BannerStatus(comp *config.Component, s model.Status) model.Status {
	switch {
	case comp.Banner == config.BannerDegraded && s == model.StatusDown:
		return model.StatusDegraded
	case comp.Banner == config.BannerNone && (s == model.StatusDown || s == model.StatusDegraded):
		return model.StatusUp
	}
	return s
}

// QueryError names what in a query cannot be answered.
type QueryError struct {
	Field, Msg string
}

func (e *QueryError) Error() string { return e.Field + ": " + e.Msg }

// Status computes the status document of what q asks for: the verdicts of
// the components asked for and no others, so that its cost follows the
// question. Filtered, its status is the worst of the components returned.
func (v View) Status(cfg *config.Config, q Query, now time.Time, reload ReloadStatus) (StatusResponse, *QueryError) {
	for _, kind := range []string{"component", "check"} {
		m := q.Components
		if kind == "check" {
			m = q.Checks
		}
		for id := range m {
			comp := cfg.Component(id)
			if kind == "check" {
				comp = cfg.Component(cfg.ComponentOf(id))
			}
			if comp == nil || (q.Public && !comp.IsPublic()) {
				return StatusResponse{}, &QueryError{Field: kind, Msg: fmt.Sprintf("no %s %q", kind, model.Clip(id, 64))}
			}
		}
	}
	unhealthyAfter := cfg.UnhealthyAfter()
	healthy, healthyAt := v.Probes.HealthyRegions(now, unhealthyAfter), v.Probes.HealthyAtFor(cfg)
	out := StatusResponse{GeneratedAt: now.UTC(), ConfigVersion: cfg.Version, Config: reload, Components: []ComponentStatus{}, Probes: []ProbeStatus{}}
	var all []model.Status
	started := q.Cursor == ""
	for _, comp := range cfg.Components {
		if q.Public && !comp.IsPublic() {
			continue
		}
		if !started {
			started = comp.ID == q.Cursor
			continue
		}
		if q.Components != nil && !q.Components[comp.ID] {
			continue
		}
		if q.Checks != nil && !slices.ContainsFunc(comp.Checks, func(ch config.Check) bool { return q.Checks[ch.ID] }) {
			continue
		}
		if q.Limit > 0 && len(out.Components) == q.Limit {
			out.NextCursor = out.Components[len(out.Components)-1].ID
			break
		}
		cs := ComponentStatus{ID: comp.ID, Name: comp.Name, Checks: []CheckStatus{}}
		var st []model.Status
		for i := range comp.Checks {
			ch := &comp.Checks[i]
			vd := Judge(cfg, ch, v.Latest, healthy, now, healthyAt)
			st = append(st, vd.Status)
			if q.Checks != nil && !q.Checks[ch.ID] {
				continue // counted in the component's status, not shown
			}
			reason := vd.Reason
			if r := vd.Regions[model.PushRegion].Result; q.Public && ch.Heartbeat != nil && r != nil && reason == r.Message && r.ErrorClass != model.ErrTimeout {
				reason = "the job reported a failed run" // its own words are for SREs only
			}
			chs := CheckStatus{ID: ch.ID, Name: ch.Name, Kind: ch.Kind, Status: vd.Status, Reason: reason,
				Failing: vd.Failing, Quorum: cfg.CheckQuorum(ch), Regions: make(map[string]CheckRegionStatus, len(vd.Regions)), StaleRegions: vd.StaleRegions}
			// One allocation for the latencies of all regions of the check.
			latency := make([]float64, 0, len(vd.Regions))
			for region, rv := range vd.Regions {
				crs := CheckRegionStatus{Status: rv.Status, Healthy: rv.Healthy, StaleEdge: rv.Stale, ProbeProblem: rv.ProbeProblem}
				if r := rv.Result; r != nil {
					// Results in latest are shared, read-only and in UTC.
					latency = append(latency, float64(r.DurationUS)/1000)
					crs.LastResultAt, crs.LatencyMS = &r.Started, &latency[len(latency)-1]
					crs.ErrorClass, crs.Message = r.ErrorClass, r.Message
					if q.Public && region == model.PushRegion {
						crs.Message = "" // a job's own words are for SREs only
					}
					crs.CertDaysLeft, crs.Edge = r.CertDays(), r.Edge
				}
				chs.Regions[region] = crs
			}
			cs.Checks = append(cs.Checks, chs)
		}
		cs.Status = Worst(st)
		all = append(all, BannerStatus(&comp, cs.Status))
		out.Components = append(out.Components, cs)
	}
	if !started {
		return StatusResponse{}, &QueryError{Field: "cursor", Msg: fmt.Sprintf("%q is not a component (use next_cursor of the previous page)", q.Cursor)}
	}
	out.Status = Worst(all)
	count := map[string]int{}
	for _, p := range v.Probes.Snapshot() {
		ok := now.Sub(p.LastHeartbeat) <= unhealthyAfter
		if ok {
			count[p.Region]++
		}
		out.Probes = append(out.Probes, ProbeStatus{Region: p.Region, ProbeID: p.ID, Healthy: ok, LastHeartbeatAt: p.LastHeartbeat.UTC(),
			Version: p.Version, StartedAt: p.StartedAt.UTC(), SpoolDepth: p.SpoolDepth, ClockSkewMS: p.ClockSkew.Milliseconds()})
	}
	for _, r := range cfg.Regions {
		out.Regions = append(out.Regions, RegionStatus{ID: r.ID, Name: r.Name, Healthy: healthy[r.ID], Probes: count[r.ID]})
	}
	return out, nil
}

// CompactStatus is GET /api/v1/status?view=compact: the verdicts alone,
// for machines that poll.
type CompactStatus struct {
	GeneratedAt time.Time          `json:"generated_at"`
	Status      model.Status       `json:"status"`
	Components  []CompactComponent `json:"components"`
	NextCursor  string             `json:"next_cursor,omitempty"`
}

// CompactComponent is one component's verdict and its checks'.
type CompactComponent struct {
	ID     string         `json:"id"`
	Status model.Status   `json:"status"`
	Checks []CompactCheck `json:"checks"`
}

// CompactCheck is one check's verdict.
type CompactCheck struct {
	ID      string       `json:"id"`
	Status  model.Status `json:"status"`
	Failing int          `json:"failing_regions"`
}

// Compact is the compact view of a status document.
func Compact(st *StatusResponse) *CompactStatus {
	cs := &CompactStatus{GeneratedAt: st.GeneratedAt, Status: st.Status, Components: make([]CompactComponent, 0, len(st.Components)), NextCursor: st.NextCursor}
	for _, comp := range st.Components {
		cc := CompactComponent{ID: comp.ID, Status: comp.Status, Checks: make([]CompactCheck, 0, len(comp.Checks))}
		for _, ch := range comp.Checks {
			cc.Checks = append(cc.Checks, CompactCheck{ID: ch.ID, Status: ch.Status, Failing: ch.Failing})
		}
		cs.Components = append(cs.Components, cc)
	}
	return cs
}

// ReloadStatus is the outcome of the last reload attempt.
type ReloadStatus struct {
	Version   string     `json:"version"`
	File      string     `json:"file,omitempty"`
	Error     string     `json:"last_reload_error,omitempty"`
	ReloadAt  *time.Time `json:"last_reload_at,omitempty"`
	Succeeded bool       `json:"last_reload_successful"`
}
