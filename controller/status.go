package controller

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

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

// Status computes the status document.
func (c *Controller) Status() StatusResponse {
	cfg := c.Config()
	now := c.now()
	unhealthyAfter := cfg.UnhealthyAfter()
	healthy, healthyAt := c.probes.healthyRegions(now, unhealthyAfter), c.healthyAt(cfg)
	out := StatusResponse{GeneratedAt: now.UTC(), ConfigVersion: cfg.Version, Config: c.reloadStatus(), Components: []ComponentStatus{}, Probes: []ProbeStatus{}}
	var all []model.Status
	for _, comp := range cfg.Components {
		cs := ComponentStatus{ID: comp.ID, Name: comp.Name, Checks: []CheckStatus{}}
		var st []model.Status
		for i := range comp.Checks {
			ch := &comp.Checks[i]
			v := verdict(cfg, ch, c.latest, healthy, now, healthyAt)
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
			st = append(st, v.Status)
			cs.Checks = append(cs.Checks, chs)
		}
		cs.Status = worst(st)
		all = append(all, cs.Status)
		out.Components = append(out.Components, cs)
	}
	out.Status = worst(all)
	count := map[string]int{}
	for _, p := range c.probes.snapshot() {
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
	return out
}

func (c *Controller) handleStatus(ec echo.Context) error {
	ec.Response().Header().Set("Cache-Control", "no-store")
	return ec.JSON(http.StatusOK, c.Status())
}
