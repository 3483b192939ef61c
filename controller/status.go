package controller

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/internal/snapshot"
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

// Status computes the whole status document.
func (c *Controller) Status() StatusResponse {
	st, _ := c.status(statusQuery{})
	return st
}

// status computes the status document of what q asks for: the verdicts of
// the components asked for and no others, so that its cost follows the
// question. Filtered, its status is the worst of the components returned.
func (c *Controller) status(q statusQuery) (StatusResponse, *apiError) {
	cfg := c.Config()
	for _, kind := range []string{"component", "check"} {
		m := q.components
		if kind == "check" {
			m = q.checks
		}
		for id := range m {
			if (kind == "check" && cfg.Check(id) == nil) || (kind == "component" && cfg.Component(id) == nil) {
				return StatusResponse{}, &apiError{Field: kind, Error: fmt.Sprintf("no %s %q", kind, id)}
			}
		}
	}
	now := c.now()
	unhealthyAfter := cfg.UnhealthyAfter()
	healthy, healthyAt := c.probes.HealthyRegions(now, unhealthyAfter), c.healthyAt(cfg)
	out := StatusResponse{GeneratedAt: now.UTC(), ConfigVersion: cfg.Version, Config: c.reloadStatus(), Components: []ComponentStatus{}, Probes: []ProbeStatus{}}
	var all []model.Status
	started := q.cursor == ""
	for _, comp := range cfg.Components {
		if !started {
			started = comp.ID == q.cursor
			continue
		}
		if q.components != nil && !q.components[comp.ID] {
			continue
		}
		if q.checks != nil && !slices.ContainsFunc(comp.Checks, func(ch config.Check) bool { return q.checks[ch.ID] }) {
			continue
		}
		if q.limit > 0 && len(out.Components) == q.limit {
			out.NextCursor = out.Components[len(out.Components)-1].ID
			break
		}
		cs := ComponentStatus{ID: comp.ID, Name: comp.Name, Checks: []CheckStatus{}}
		var st []model.Status
		for i := range comp.Checks {
			ch := &comp.Checks[i]
			v := verdict(cfg, ch, c.latest, healthy, now, healthyAt)
			st = append(st, v.Status)
			if q.checks != nil && !q.checks[ch.ID] {
				continue // counted in the component's status, not shown
			}
			chs := CheckStatus{ID: ch.ID, Name: ch.Name, Kind: ch.Kind, Status: v.Status, Reason: v.Reason,
				Failing: v.Failing, Quorum: cfg.CheckQuorum(ch), Regions: make(map[string]CheckRegionStatus, len(v.Regions)), StaleRegions: v.StaleRegions}
			// One allocation for the latencies of all regions of the check.
			latency := make([]float64, 0, len(v.Regions))
			for region, rv := range v.Regions {
				crs := CheckRegionStatus{Status: rv.Status, Healthy: rv.Healthy, StaleEdge: rv.Stale, ProbeProblem: rv.ProbeProblem}
				if r := rv.Result; r != nil {
					// Results in latest are shared, read-only and in UTC.
					latency = append(latency, float64(r.DurationUS)/1000)
					crs.LastResultAt, crs.LatencyMS = &r.Started, &latency[len(latency)-1]
					crs.ErrorClass, crs.Message = r.ErrorClass, r.Message
					crs.CertDaysLeft, crs.Edge = r.CertDays(), r.Edge
				}
				chs.Regions[region] = crs
			}
			cs.Checks = append(cs.Checks, chs)
		}
		cs.Status = worst(st)
		all = append(all, cs.Status)
		out.Components = append(out.Components, cs)
	}
	if !started {
		return StatusResponse{}, &apiError{Field: "cursor", Error: fmt.Sprintf("%q is not a component (use next_cursor of the previous page)", q.cursor)}
	}
	out.Status = worst(all)
	count := map[string]int{}
	for _, p := range c.probes.Snapshot() {
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

func compactStatus(st *StatusResponse) *CompactStatus {
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

// statusQuery is what GET /api/v1/status was asked: components and checks
// to keep (none: all), and a page of the components.
type statusQuery struct {
	components, checks map[string]bool
	limit              int
	cursor             string
	compact            bool
}

// maxStatusLimit bounds a page of components.
const maxStatusLimit = 1000

func parseStatusQuery(ec echo.Context) (statusQuery, *apiError) {
	q := statusQuery{}
	list := func(name string) map[string]bool {
		var m map[string]bool
		for _, v := range ec.QueryParams()[name] {
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
	q.components, q.checks = list("component"), list("check")
	switch v := ec.QueryParam("view"); v {
	case "", "full":
	case "compact":
		q.compact = true
	default:
		return q, &apiError{Field: "view", Error: fmt.Sprintf("%q is not a view: full or compact", v)}
	}
	if v := ec.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxStatusLimit {
			return q, &apiError{Field: "limit", Error: fmt.Sprintf("%q is not a number of components from 1 to %d", v, maxStatusLimit)}
		}
		q.limit = n
	}
	q.cursor = ec.QueryParam("cursor")
	return q, nil
}

// whole says the query asks for the whole document.
func (q statusQuery) whole() bool {
	return q.components == nil && q.checks == nil && q.limit == 0 && q.cursor == ""
}

// handleStatus serves the status document: whole, it is the published
// bytes (ETag, gzip, a few seconds of caching); filtered or paged, it is
// computed for what was asked, now.
func (c *Controller) handleStatus(ec echo.Context) error {
	q, qerr := parseStatusQuery(ec)
	if qerr != nil {
		return fail(ec, http.StatusBadRequest, qerr.Field, qerr.Error)
	}
	ctx := ec.Request().Context()
	cacheControl := "public, max-age=2"
	if c.Config().API.Private {
		cacheControl = "private, no-cache"
	}
	if q.whole() {
		var r *snapshot.Rendered
		if q.compact {
			e, err := c.published.compact.Get(ctx)
			if err != nil {
				return err
			}
			r = e.Rendered
		} else {
			e, err := c.published.status.Get(ctx)
			if err != nil {
				return err
			}
			r = e.Rendered
		}
		r.Serve(ec.Response(), ec.Request(), cacheControl)
		return nil
	}
	st, qerr := c.status(q)
	if qerr != nil {
		code := http.StatusNotFound
		if qerr.Field == "cursor" {
			code = http.StatusBadRequest
		}
		return fail(ec, code, qerr.Field, qerr.Error)
	}
	ec.Response().Header().Set("Cache-Control", cacheControl)
	if q.compact {
		return ec.JSON(http.StatusOK, compactStatus(&st))
	}
	return ec.JSON(http.StatusOK, &st)
}
